// The CPU row kernels alone, without Swift, threads or target checks in the way: nanoseconds per row
// from cache on one core, and GB/s of logits from memory on several threads, for the loss or the fused
// loss and gradient, with the logits and gradient placed at a chosen offset from a 64-byte boundary
// (a Swift array's elements sit 32 bytes past one).
//
// build (SwiftPM's flags for the package's C, without which timings differ):
//        clang -O2 -fPIC -fno-omit-frame-pointer -ISources/CPURowKernels/include -ISources/CPURowKernels \
//            Sources/CPURowKernels/*.c Benchmarks/row_kernels.c -o /tmp/row_kernels -lm -lpthread
// usage: /tmp/row_kernels CLASSES [THREADS=2] [GRADIENT=0|1] [OFFSET_BYTES=0]
#include "CPURowKernels.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct {
    const xent_rows *rows;
    const xent_outputs *outputs;
    const xent_row_results *results;
    int64_t begin, end;
} slab;

static void *run_slab(void *argument) {
    const slab *s = argument;
    xent_run_rows(XENT_F32, s->rows, s->outputs, s->results, s->begin, s->end);
    return NULL;
}

static float *placed(size_t count, int offset) {
    char *memory = aligned_alloc(64, count * sizeof(float) + 64);
    memset(memory, 0, count * sizeof(float) + 64);
    return (float *)(void *)(memory + offset);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CLASSES [THREADS=2] [GRADIENT=0|1] [OFFSET_BYTES=0]\n", argv[0]);
        return 2;
    }
    const int64_t classes = atol(argv[1]);
    const int threads = argc > 2 ? atoi(argv[2]) : 2;
    const int gradient = argc > 3 && atoi(argv[3]);
    const int offset = argc > 4 ? atoi(argv[4]) : 0;
    const int64_t rows = ((int64_t)1 << 28) / classes;
    float *logits = placed((size_t)(rows * classes), offset);
    float *out = gradient ? placed((size_t)(rows * classes), offset) : NULL;
    int64_t *targets = malloc((size_t)rows * sizeof(int64_t));
    uint64_t state = 7;
    for (int64_t i = 0; i < rows * classes; i++) {
        state = state * 6364136223846793005u + 1442695040888963407u;
        logits[i] = (float)(state >> 40) * (8.0f / 16777216.0f) - 4;  // uniform in [-4, 4), as xent bench
    }
    for (int64_t i = 0; i < rows; i++) {
        targets[i] = (i * 7) % classes;
    }
    const xent_rows batch = {logits, NULL, targets, NULL, classes, 1, -100, 0, (double)classes, 0};
    const xent_loss_rule rule = {targets, NULL, -100, 0, classes};
    const xent_row_results results = {&rule, NULL, NULL};
    const xent_outputs outputs = {out, XENT_OUTPUT_GRADIENT, 1.0 / (double)rows, NULL};

    // From cache: 512 KiB of rows, many times, on this thread.
    const int64_t cached = (512 * 1024 / 4) / classes > 0 ? (512 * 1024 / 4) / classes : 1;
    double best = 1e30;
    for (int round = 0; round < 5; round++) {
        const double start = now();
        for (int repeat = 0; repeat < 200; repeat++) {
            xent_run_rows(XENT_F32, &batch, gradient ? &outputs : NULL, &results, 0, cached);
        }
        const double perRow = (now() - start) / 200 / (double)cached;
        best = perRow < best ? perRow : best;
    }
    printf("cached, 1 thread: %.2f ns/row\n", best * 1e9);

    // From memory: 1 GiB of logits split into one slab per thread.
    for (int round = 0; round < 5; round++) {
        pthread_t workers[64];
        slab slabs[64];
        const double start = now();
        for (int t = 0; t < threads && t < 64; t++) {
            slabs[t] = (slab){&batch, gradient ? &outputs : NULL, &results, rows * t / threads,
                              rows * (t + 1) / threads};
            pthread_create(&workers[t], NULL, run_slab, &slabs[t]);
        }
        for (int t = 0; t < threads && t < 64; t++) {
            pthread_join(workers[t], NULL);
        }
        const double seconds = now() - start;
        const double readStart = now();
        const float sum = xent_read_sum(logits, rows * classes);
        const double readSeconds = now() - readStart;
        printf("memory, %d threads: %.1f GB/s of logits (read-only pass, 1 thread: %.1f GB/s; %g)\n", threads,
               (double)(rows * classes * 4) / seconds / 1e9, (double)(rows * classes * 4) / readSeconds / 1e9,
               (double)sum);
    }
    return 0;
}
