#ifndef CMPI_SHIM_H
#define CMPI_SHIM_H

// Open MPI's C API (libopenmpi-dev; pkg-config ompi-c), with the handles Swift cannot import (macros over
// internal symbols in Open MPI) as functions.

#include <mpi.h>

static inline MPI_Comm xent_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype xent_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Op xent_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op xent_mpi_max(void) { return MPI_MAX; }
static inline void *xent_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int xent_mpi_success(void) { return MPI_SUCCESS; }
static inline int xent_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline MPI_Request xent_mpi_request_null(void) { return MPI_REQUEST_NULL; }

#endif
