/* Adam, RMSprop and SGD (momentum and plain) against a double-precision C
 * reference of PyTorch 1.13's single-tensor update, over several steps at odd
 * sizes and buffer offsets, with and without weight decay; and against
 * numbers PyTorch 1.13 itself produced (pasted below).
 * Tolerances (|got - want| <= atol + rtol |want|, checked after every step;
 * the reference runs in double from the same float start, never re-synced):
 *   parameters rtol 2e-6 atol 1e-7 (a few float roundings per step),
 *   moment buffers rtol 1e-5, atol 1e-6 * (largest |state| so far): each is
 *   a running sum with cancellation, so its float error scales with the
 *   largest terms summed, not with its own value.
 * Argument --small: fewer sizes (oclgrind). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "test_util.h"

#define P_ATOL 1e-7
#define P_RTOL 2e-6
#define S_ATOL 1e-6 /* times the largest |state| */
#define S_RTOL 1e-5

typedef enum { ADAM, RMSPROP, SGD_MOMENTUM, SGD_PLAIN } optim_kind;
static const char *kind_name[] = {"adam", "rmsprop", "sgd_momentum", "sgd"};

typedef struct hyper {
    float lr, beta1, beta2, eps, wd, alpha, momentum;
} hyper;

/* One step of PyTorch 1.13's single-tensor update in double. s1 is m / sq /
 * momentum buffer, s2 is Adam's v. */
static void ref_step(optim_kind k, const hyper *h, int t, size_t n, double *p,
                     const float *g, double *s1, double *s2)
{
    for (size_t i = 0; i < n; i++) {
        double gi = (double)g[i] + (double)h->wd * p[i];
        switch (k) {
        case ADAM: {
            double b1 = h->beta1, b2 = h->beta2;
            s1[i] = b1 * s1[i] + (1 - b1) * gi;
            s2[i] = b2 * s2[i] + (1 - b2) * gi * gi;
            double step = h->lr / (1 - pow(b1, t));
            p[i] -= step * s1[i] / (sqrt(s2[i]) / sqrt(1 - pow(b2, t)) + h->eps);
            break;
        }
        case RMSPROP:
            s1[i] = h->alpha * s1[i] + (1 - (double)h->alpha) * gi * gi;
            p[i] -= h->lr * gi / (sqrt(s1[i]) + h->eps);
            break;
        case SGD_MOMENTUM:
            s1[i] = t == 1 ? gi : h->momentum * s1[i] + gi;
            p[i] -= h->lr * s1[i];
            break;
        case SGD_PLAIN:
            p[i] -= h->lr * gi;
            break;
        }
    }
}

static clgm_status dev_step(clgm_ctx *ctx, optim_kind k, const hyper *h, int t, size_t n,
                            clgm_buf *p, size_t poff, clgm_buf *g, size_t goff,
                            clgm_buf *s1, size_t s1off, clgm_buf *s2, size_t s2off)
{
    switch (k) {
    case ADAM:
        return op_adam(ctx, n, h->lr, h->beta1, h->beta2, h->eps, h->wd, t, p, poff, g,
                       goff, s1, s1off, s2, s2off);
    case RMSPROP:
        return op_rmsprop(ctx, n, h->lr, h->alpha, h->eps, h->wd, p, poff, g, goff, s1,
                          s1off);
    case SGD_MOMENTUM:
        return op_sgd(ctx, n, h->lr, h->momentum, h->wd, t == 1, p, poff, g, goff, s1,
                      s1off);
    case SGD_PLAIN:
        return op_sgd(ctx, n, h->lr, 0.0f, h->wd, t == 1, p, poff, g, goff, NULL, 0);
    }
    return CLGM_ERR_INVALID_ARG;
}

static void test_against_reference(clgm_ctx *ctx, int small)
{
    const size_t sizes[] = {1, 7, 255, 1000, 4099};
    const int steps = 5;
    uint64_t lcg = 11;
    for (int k = ADAM; k <= SGD_PLAIN; k++) {
        for (int si = 0; si < (small ? 3 : 5); si++) {
            size_t n = sizes[si], off = (size_t)si % 3, total = n + 6;
            hyper h = {0.01f, 0.9f, 0.999f, 1e-8f, si % 2 ? 0.1f : 0.0f, 0.99f, 0.9f};
            if (k >= SGD_MOMENTUM) h.lr = 0.1f;
            float *p = malloc(total * sizeof *p), *g = malloc(total * sizeof *g);
            float *got = malloc(total * sizeof *got);
            double *rp = calloc(n, sizeof *rp), *r1 = calloc(n, sizeof *r1);
            double *r2 = calloc(n, sizeof *r2), s1max = 0, s2max = 0;
            tu_rand_fill(p, total, -1, 1, &lcg);
            for (size_t i = 0; i < n; i++) rp[i] = p[off + i];
            clgm_buf *bp, *bg, *b1, *b2;
            TU_OK(ctx, clgm_buf_create(ctx, total * sizeof(float), &bp));
            TU_OK(ctx, clgm_buf_create(ctx, total * sizeof(float), &bg));
            TU_OK(ctx, clgm_buf_create(ctx, total * sizeof(float), &b1));
            TU_OK(ctx, clgm_buf_create(ctx, total * sizeof(float), &b2));
            TU_OK(ctx, clgm_buf_write(ctx, bp, 0, total * sizeof(float), p));
            /* moments start at zero (SGD's buffer: garbage, overwritten at t=1) */
            TU_OK(ctx, op_fill(ctx, b1, 0, total, k >= SGD_MOMENTUM ? 1e30f : 0.0f));
            TU_OK(ctx, op_fill(ctx, b2, 0, total, 0.0f));
            for (int t = 1; t <= steps; t++) {
                tu_rand_fill(g, total, -0.5f, 0.5f, &lcg);
                if (n > 10) g[off + 3] = 1e-7f; /* tiny gradient: eps matters */
                TU_OK(ctx, clgm_buf_write(ctx, bg, 0, total * sizeof(float), g));
                TU_OK(ctx, dev_step(ctx, (optim_kind)k, &h, t, n, bp, off, bg, off + 1, b1,
                                    off + 2, b2, off + 3));
                ref_step((optim_kind)k, &h, t, n, rp, g + off + 1, r1, r2);
                for (size_t i = 0; i < n; i++) {
                    s1max = fmax(s1max, fabs(r1[i]));
                    s2max = fmax(s2max, fabs(r2[i]));
                }
                char what[96];
                TU_OK(ctx, clgm_buf_read(ctx, bp, 0, total * sizeof(float), got));
                snprintf(what, sizeof what, "%s n=%zu wd=%g step %d: p", kind_name[k], n,
                         (double)h.wd, t);
                tu_close(what, got + off, rp, n, P_ATOL, P_RTOL);
                for (size_t i = 0; i < total; i++)
                    if (i < off || i >= off + n)
                        TU_CHECK(got[i] == p[i], "%s wrote p outside at %zu", what, i);
                if (k != SGD_PLAIN) {
                    TU_OK(ctx, clgm_buf_read(ctx, b1, 0, total * sizeof(float), got));
                    snprintf(what, sizeof what, "%s n=%zu step %d: state", kind_name[k], n, t);
                    tu_close(what, got + off + 2, r1, n, S_ATOL * s1max, S_RTOL);
                }
                if (k == ADAM) {
                    TU_OK(ctx, clgm_buf_read(ctx, b2, 0, total * sizeof(float), got));
                    snprintf(what, sizeof what, "adam n=%zu step %d: v", n, t);
                    tu_close(what, got + off + 3, r2, n, S_ATOL * s2max, S_RTOL);
                }
            }
            clgm_buf_release(ctx, bp);
            clgm_buf_release(ctx, bg);
            clgm_buf_release(ctx, b1);
            clgm_buf_release(ctx, b2);
            free(p); free(g); free(got); free(rp); free(r1); free(r2);
        }
    }
}

/* Produced with PyTorch 1.13 (/usr/bin/python3, CPU, float32):
 *   p = torch.tensor([-0.75, -0.5, -0.125, 0.25, 0.625, 1.0], requires_grad=True)
 *   Adam([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
 *   RMSprop([p], lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.01)
 *   SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)
 * every hyperparameter rounded to float32 first (f32(x) through struct
 * pack/unpack) as this API takes floats: 1 - 0.999f differs from 1 - 0.999
 * by 1.3e-5 relative, which would otherwise dominate the comparison.
 *   for t in 1..3: p.grad = [((i*5 + t*3) % 11 - 5) / 16 for i in range(6)]; opt.step()
 * then printed p and the state tensors with '%.9g'. */
static const float torch_p0[6] = {-0.75f, -0.5f, -0.125f, 0.25f, 0.625f, 1.0f};
static const float torch_adam_p[6] = {-0.740863144f, -0.502476156f, -0.109037049f,
                                      0.227260411f, 0.645837367f, 0.980104744f};
static const float torch_adam_m[6] = {0.0184898339f, -0.0268083904f, 0.00324949739f,
                                      0.0201490931f, -0.011654051f, 0.00524453307f};
static const float torch_adam_v[6] = {7.94240186e-05f, 0.000150924534f, 7.03072292e-05f,
                                      0.000149581552f, 7.97183093e-05f, 0.000130415603f};
static const float torch_rms_p[6] = {-0.775365055f, -0.479527831f, -0.0956509933f,
                                     0.105791375f, 0.700021386f, 0.870747447f};
static const float torch_rms_sq[6] = {0.000794134452f, 0.00150005298f, 0.000699806493f,
                                      0.00148484425f, 0.0007880255f, 0.00130107964f};
static const float torch_sgd_p[6] = {-0.748837352f, -0.476094902f, -0.0923080817f,
                                     0.174177438f, 0.688520551f, 0.955006063f};
static const float torch_sgd_buf[6] = {0.184990868f, -0.268118322f, 0.0327670723f,
                                       0.201103121f, -0.116073966f, 0.0522620529f};

static void test_against_pytorch(clgm_ctx *ctx)
{
    const float *want_p[3] = {torch_adam_p, torch_rms_p, torch_sgd_p};
    const float *want_s1[3] = {torch_adam_m, torch_rms_sq, torch_sgd_buf};
    for (int k = ADAM; k <= SGD_MOMENTUM; k++) {
        hyper h = {k == SGD_MOMENTUM ? 0.1f : 0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, 0.99f, 0.9f};
        clgm_buf *bp, *bg, *b1, *b2;
        TU_OK(ctx, clgm_buf_create(ctx, 6 * sizeof(float), &bp));
        TU_OK(ctx, clgm_buf_create(ctx, 6 * sizeof(float), &bg));
        TU_OK(ctx, clgm_buf_create(ctx, 6 * sizeof(float), &b1));
        TU_OK(ctx, clgm_buf_create(ctx, 6 * sizeof(float), &b2));
        TU_OK(ctx, clgm_buf_write(ctx, bp, 0, sizeof torch_p0, torch_p0));
        TU_OK(ctx, op_fill(ctx, b1, 0, 6, 0.0f));
        TU_OK(ctx, op_fill(ctx, b2, 0, 6, 0.0f));
        for (int t = 1; t <= 3; t++) {
            float g[6];
            for (int i = 0; i < 6; i++) g[i] = (float)((i * 5 + t * 3) % 11 - 5) / 16.0f;
            TU_OK(ctx, clgm_buf_write(ctx, bg, 0, sizeof g, g));
            TU_OK(ctx, dev_step(ctx, (optim_kind)k, &h, t, 6, bp, 0, bg, 0, b1, 0, b2, 0));
        }
        float got[6];
        char what[64];
        /* same float hyperparameters: only the rounding of float operations
         * differs (order, contraction, sqrt/div accuracy): p rtol 1e-6 atol
         * 1e-7, state rtol 2e-6 */
        TU_OK(ctx, clgm_buf_read(ctx, bp, 0, sizeof got, got));
        snprintf(what, sizeof what, "%s vs PyTorch: p", kind_name[k]);
        tu_closef(what, got, want_p[k], 6, 1e-7, 1e-6);
        TU_OK(ctx, clgm_buf_read(ctx, b1, 0, sizeof got, got));
        snprintf(what, sizeof what, "%s vs PyTorch: state", kind_name[k]);
        tu_closef(what, got, want_s1[k], 6, 1e-12, 2e-6);
        if (k == ADAM) {
            TU_OK(ctx, clgm_buf_read(ctx, b2, 0, sizeof got, got));
            tu_closef("adam vs PyTorch: v", got, torch_adam_v, 6, 1e-12, 2e-6);
        }
        clgm_buf_release(ctx, bp);
        clgm_buf_release(ctx, bg);
        clgm_buf_release(ctx, b1);
        clgm_buf_release(ctx, b2);
    }
}

static void test_errors(clgm_ctx *ctx)
{
    clgm_buf *b;
    TU_OK(ctx, clgm_buf_create(ctx, 16, &b));
    TU_CHECK(op_adam(ctx, 4, 0.1f, 0.9f, 0.999f, 1e-8f, 0, 0, b, 0, b, 0, b, 0, b, 0) ==
                 CLGM_ERR_INVALID_ARG, "adam accepted step 0");
    TU_CHECK(op_sgd(ctx, 4, 0.1f, 0.9f, 0, 1, b, 0, b, 0, NULL, 0) == CLGM_ERR_INVALID_ARG,
             "sgd with momentum accepted no buffer");
    clgm_buf_release(ctx, b);
}

int main(int argc, char **argv)
{
    int small = argc > 1 && strcmp(argv[1], "--small") == 0;
    clgm_ctx *ctx = tu_open();
    test_against_reference(ctx, small);
    test_against_pytorch(ctx);
    test_errors(ctx);
    clgm_ctx_destroy(ctx);
    return tu_finish("test_optim");
}
