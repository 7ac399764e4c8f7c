#ifndef CPU_ROW_KERNELS_VECTOR_TRANSPOSE_H
#define CPU_ROW_KERNELS_VECTOR_TRANSPOSE_H

// Transposes of square blocks of vectors in registers, for the rows that are processed one per lane.

#define XENT_ARGS(...) __VA_ARGS__

// Transposes of a square block of vectors into `block` (row i, lane j becomes row j, lane i), row i
// of the input being `in(i)`: at each level b, every pair of rows (i, i + b) swaps its off-diagonal
// b-wide blocks. The first level takes its rows straight from `in`, so no copy of the block is made.
#define XENT_SWAP_BLOCKS(rows, in, count, b, lo, hi)                        \
    _Pragma("clang loop unroll(full)") for (int i = 0; i < (count); i++) { \
        if ((i & (b)) == 0) {                                               \
            const __typeof__(rows[0]) top = in(i), bottom = in(i + (b));    \
            rows[i] = __builtin_shufflevector(top, bottom, lo);             \
            rows[i + (b)] = __builtin_shufflevector(top, bottom, hi);       \
        }                                                                   \
    }
#define XENT_IN_PLACE(k) xent_block_[k]

#define XENT_TRANSPOSE16(block, in)                                                                                \
    do {                                                                                                           \
        __typeof__(&(block)[0]) xent_block_ = (block);                                                             \
        XENT_SWAP_BLOCKS(xent_block_, in, 16, 8, XENT_ARGS(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), \
                         XENT_ARGS(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31))                  \
        XENT_SWAP_BLOCKS(xent_block_, XENT_IN_PLACE, 16, 4,                                                        \
                         XENT_ARGS(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27),                      \
                         XENT_ARGS(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31))                    \
        XENT_SWAP_BLOCKS(xent_block_, XENT_IN_PLACE, 16, 2,                                                        \
                         XENT_ARGS(0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29),                      \
                         XENT_ARGS(2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31))                    \
        XENT_SWAP_BLOCKS(xent_block_, XENT_IN_PLACE, 16, 1,                                                        \
                         XENT_ARGS(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30),                     \
                         XENT_ARGS(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31))                     \
    } while (0)

#define XENT_TRANSPOSE8(block, in)                                                                             \
    do {                                                                                                       \
        __typeof__(&(block)[0]) xent_block_ = (block);                                                         \
        XENT_SWAP_BLOCKS(xent_block_, in, 8, 4, XENT_ARGS(0, 1, 2, 3, 8, 9, 10, 11),                           \
                         XENT_ARGS(4, 5, 6, 7, 12, 13, 14, 15))                                                \
        XENT_SWAP_BLOCKS(xent_block_, XENT_IN_PLACE, 8, 2, XENT_ARGS(0, 1, 8, 9, 4, 5, 12, 13),                \
                         XENT_ARGS(2, 3, 10, 11, 6, 7, 14, 15))                                                \
        XENT_SWAP_BLOCKS(xent_block_, XENT_IN_PLACE, 8, 1, XENT_ARGS(0, 8, 2, 10, 4, 12, 6, 14),               \
                         XENT_ARGS(1, 9, 3, 11, 5, 13, 7, 15))                                                 \
    } while (0)

#endif
