// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011), dropout
// and an elementwise multiply.
//
// Stream definition (shared bit for bit with the host code in ops/rng.c):
//   position p = offset + i (uint64, wraps mod 2^64) of stream (seed, offset)
//   block    b = p >> 2,  lane = p & 3
//   key      = (lo32(seed), hi32(seed))
//   counter  = (lo32(b), hi32(b), 0, 0)
//   word     = philox4x32_10(counter, key)[lane]
//   uniform  = (word >> 8) * 2^-24          in [0, 1 - 2^-24], never 1.0
// Normals pair the lanes of one block: lanes (0,1) and (2,3) each give two
// Box-Muller normals from their two uniforms u_even, u_odd:
//   r = sqrt(-2 log(1 - u_even))  (1 - u_even is in [2^-24, 1], exact: no log 0)
//   lane even: r cos(2 pi u_odd), lane odd: r sin(2 pi u_odd).
// So element i depends only on (seed, offset + i). op_rng_span rounds draws up
// to whole blocks so two draws never share a block (a normal's partner word).
//
// Each work-item produces one block (up to 4 outputs); outputs outside
// [offset, offset + n) are not written.

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

// One round on the counter words c0..c3 with round key (k0, k1). The high
// product words come from a 64-bit multiply: PoCL's mul_hi() defeats its
// work-group vectorizer (4x slower); GPU compilers emit mul.hi either way.
#define PHILOX_ROUND(k0, k1)                                                   \
    do {                                                                       \
        ulong p0 = (ulong)PHILOX_M0 * c0, p1 = (ulong)PHILOX_M1 * c2;          \
        uint n0 = (uint)(p1 >> 32) ^ c1 ^ (k0), n2 = (uint)(p0 >> 32) ^ c3 ^ (k1); \
        c1 = (uint)p1; c3 = (uint)p0; c0 = n0; c2 = n2;                        \
    } while (0)

// Philox4x32-10 of counter (lo32(block), hi32(block), 0, 0) and key
// (lo32(seed), hi32(seed)); the key is bumped by (W0, W1) before rounds 2..10.
static float4 block_uniform01(ulong seed, ulong block)
{
    uint c0 = (uint)block, c1 = (uint)(block >> 32), c2 = 0, c3 = 0;
    uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
    PHILOX_ROUND(k0, k1);
    PHILOX_ROUND(k0 + 1u * PHILOX_W0, k1 + 1u * PHILOX_W1);
    PHILOX_ROUND(k0 + 2u * PHILOX_W0, k1 + 2u * PHILOX_W1);
    PHILOX_ROUND(k0 + 3u * PHILOX_W0, k1 + 3u * PHILOX_W1);
    PHILOX_ROUND(k0 + 4u * PHILOX_W0, k1 + 4u * PHILOX_W1);
    PHILOX_ROUND(k0 + 5u * PHILOX_W0, k1 + 5u * PHILOX_W1);
    PHILOX_ROUND(k0 + 6u * PHILOX_W0, k1 + 6u * PHILOX_W1);
    PHILOX_ROUND(k0 + 7u * PHILOX_W0, k1 + 7u * PHILOX_W1);
    PHILOX_ROUND(k0 + 8u * PHILOX_W0, k1 + 8u * PHILOX_W1);
    PHILOX_ROUND(k0 + 9u * PHILOX_W0, k1 + 9u * PHILOX_W1);
    return convert_float4((uint4)(c0, c1, c2, c3) >> 8) * 0x1p-24f;
}

static float lane(float4 v, int l)
{
    return l == 0 ? v.x : l == 1 ? v.y : l == 2 ? v.z : v.w;
}

// Stores the lanes of work-item gid's block that fall in the draw: the
// block's lane 0 is draw index i0 = 4 gid - (offset & 3). Whole blocks take
// one vector store; only the first and last block of a draw are partial.
static void store_block(float4 y, int gid, ulong offset, int n, __global float *x, int xoff)
{
    int i0 = 4 * gid - (int)(offset & 3);
    if (i0 >= 0 && i0 <= n - 4) {
        vstore4(y, 0, x + xoff + i0);
    } else {
        for (int l = 0; l < 4; l++)
            if (i0 + l >= 0 && i0 + l < n) x[xoff + i0 + l] = lane(y, l);
    }
}

// x[xoff + i] = lo + (hi - lo) * u_i, with an explicit fma so the host (fmaf)
// gives the same bits whatever the compiler contracts: every step (uint ops,
// an exact int->float conversion, an exact scaling, one subtraction, one fma)
// is correctly rounded on any conforming device, barring subnormal results.
// The range is [lo, hi) up to the fma's rounding (it can reach hi when
// |lo| >> hi - lo).
__kernel void rng_uniform(ulong seed, ulong offset, int n, int nblocks,
                          float lo, float hi, __global float *x, int xoff)
{
    int gid = get_global_id(0);
    if (gid >= nblocks) return;
    float4 u = block_uniform01(seed, (offset >> 2) + (ulong)gid);
    store_block(fma((float4)(hi - lo), u, (float4)(lo)), gid, offset, n, x, xoff);
}

__kernel void rng_normal(ulong seed, ulong offset, int n, int nblocks,
                         float mean, float stddev, __global float *x, int xoff)
{
    int gid = get_global_id(0);
    if (gid >= nblocks) return;
    float4 u = block_uniform01(seed, (offset >> 2) + (ulong)gid);
    float2 r = sqrt(-2.0f * log(1.0f - u.xz));
    // cospi/sinpi take 2u exactly (no rounded 2*pi factor).
    float2 a = 2.0f * u.yw;
    float2 c = cospi(a), s = sinpi(a);
    float4 z = (float4)(r.x * c.x, r.x * s.x, r.y * c.y, r.y * s.y);
    store_block(fma((float4)(stddev), z, (float4)(mean)), gid, offset, n, x, xoff);
}

// Inverted dropout: keep when u_i >= p (probability 1 - p up to 2^-24);
// mask = keep ? scale : 0 with scale = 1/(1-p) (0 when p >= 1); y = x * mask.
__kernel void dropout_forward(ulong seed, ulong offset, int n, int nblocks,
                              float p, float scale, __global const float *xin,
                              int xinoff, __global float *mask, int moff,
                              __global float *y, int yoff)
{
    int gid = get_global_id(0);
    if (gid >= nblocks) return;
    float4 u = block_uniform01(seed, (offset >> 2) + (ulong)gid);
    float4 m = select((float4)(0.0f), (float4)(scale), u >= (float4)(p));
    int i0 = 4 * gid - (int)(offset & 3);
    if (i0 >= 0 && i0 <= n - 4) {
        vstore4(m, 0, mask + moff + i0);
        vstore4(vload4(0, xin + xinoff + i0) * m, 0, y + yoff + i0);
    } else {
        for (int l = 0; l < 4; l++) {
            int i = i0 + l;
            if (i >= 0 && i < n) {
                float ml = lane(m, l);
                mask[moff + i] = ml;
                y[yoff + i] = xin[xinoff + i] * ml;
            }
        }
    }
}

// y = a * b elementwise (dropout backward: dx = dy * mask).
__kernel void mul(__global const float *a, int aoff, __global const float *b,
                  int boff, __global float *y, int yoff, int n)
{
    int i = get_global_id(0);
    GUARD0(i, n, y[yoff + i] = a[aoff + i] * b[boff + i];)
}
