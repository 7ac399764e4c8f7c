// The device's read bandwidth, for `xent bench` on an OpenCL device: every work-item sums its share of
// a buffer of float4 vectors and writes one value, which keeps the reads from being optimised away. On a
// GPU (`contiguous` 0) consecutive work-items read consecutive vectors, so that their loads coalesce; on
// a CPU device each work-item reads one contiguous run, as a core's prefetchers want.
__kernel void read_probe(__global const float4 *data, long vectors, int contiguous, __global float *sums) {
    const long items = get_global_size(0), id = get_global_id(0);
    const long run = (vectors + items - 1) / items;
    const long first = contiguous ? id * run : id, step = contiguous ? 1 : items;
    const long end = contiguous ? min(first + run, vectors) : vectors;
    // A scalar sum of each vector's lanes (a float4 sum crashes Oclgrind 21.10's uninitialized-value
    // checker); the loads stay whole vectors.
    float sum = 0.0f;
    for (long i = first; i < end; i += step) {
        const float4 v = data[i];
        sum += (v.x + v.y) + (v.z + v.w);
    }
    sums[id] = sum;
}

// The device's copy bandwidth, the limit of a loss + gradient (one read and one write of the logits'
// size): every work-item copies its share of `source` into `destination`, walked as read_probe walks.
__kernel void copy_probe(__global const float4 *source, long vectors, int contiguous, __global float4 *destination) {
    const long items = get_global_size(0), id = get_global_id(0);
    const long run = (vectors + items - 1) / items;
    const long first = contiguous ? id * run : id, step = contiguous ? 1 : items;
    const long end = contiguous ? min(first + run, vectors) : vectors;
    for (long i = first; i < end; i += step) {
        destination[i] = source[i];
    }
}
