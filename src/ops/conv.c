/* Conv2d and ConvTranspose2d as im2col + one GEMM over the whole batch.
 *
 * Both are described by one "geometry": an image side (the Conv2d input, or
 * the ConvTranspose2d output) of Ci channels and Hi x Wi pixels, a grid side
 * (the Conv2d output, or the ConvTranspose2d input) of Co channels and
 * Ho x Wo positions, and the kernel. A weight stored as (Co, Ci, KH, KW) is
 * then the matrix Wm (Co, rows) with rows = Ci*KH*KW; this is PyTorch's
 * Conv2d (OC, C, KH, KW) and ConvTranspose2d (C_in, OC, KH, KW) alike.
 *
 * Workspace (floats): col (rows, NP) followed by t (Co, NP), NP = N*Ho*Wo,
 * with col_guard() floats before col and after t (see col2im_k4s2p1).
 * col holds every image side by side (cl/conv.cl); t holds the grid-side
 * tensor in GEMM layout (Co, N, Ho*Wo). Per direction, with "grid" the
 * (N, Co, Ho, Wo) tensor and "image" the (N, Ci, Hi, Wi) one:
 *   grid from image  (conv fwd, convT bwd dx): col = im2col(image);
 *                    t = Wm col; grid = swap(t)
 *   image from grid  (conv bwd dx, convT fwd): t = swap(grid); col = Wm^T t;
 *                    image = col2im(col)
 *   weight gradient  (both):                   dWm += t col^T
 * Where the own GEMM reads them faster (op_gemm_panel_width(ctx, NP) > 0),
 * the B operands of the first two, col and t, are written panel-major by
 * im2col and swap01_panels. Grid from image with few rows (grid_direct: a
 * short K, where the swap costs as much as the product) is one product per
 * image straight into grid instead, from plain columns. The weight gradient
 * reads t as rows and col^T either as rows (a dot-product NT product, which
 * panels slow down: plain col and t of its own, another im2col and swap) or,
 * for 4x4 kernels whose rows fill panels, as an NN product over col^T
 * written in panels by im2col_k4_tpanels (tpanel_grad). A col that a GEMM
 * writes is always plain. Image from grid for 4x4, stride-2, pad-1 layers
 * (an image twice the grid, Ci at least a tile wide, the own kernels) skips
 * col altogether: four phase products, one per output pixel parity, each
 * pixel's 2x2 taps in the product's K (image_from_grid_phases).
 * Each direction is a few launches whatever N is, and the weight gradient
 * sums over the batch inside the GEMM's K loop (deterministic, no partial
 * buffers). */
#include <stdio.h>

#include "device/device.h"
#include "ops/ops.h"
#include "ops/ops_util.h"

typedef struct geom {
    int N, Ci, Hi, Wi;      /* image side */
    int Co, Ho, Wo;         /* grid side */
    int KH, KW, stride, pad;
} geom;

static geom geom_of(const op_conv_shape *s, int transposed)
{
    geom g = {s->N, s->C, s->H, s->W, s->OC, s->OH, s->OW,
              s->KH, s->KW, s->stride, s->pad};
    if (transposed) {
        g.Ci = s->OC; g.Hi = s->OH; g.Wi = s->OW;
        g.Co = s->C;  g.Ho = s->H;  g.Wo = s->W;
    }
    return g;
}

static size_t geom_rows(const geom *g) { return (size_t)g->Ci * g->KH * g->KW; }
static size_t geom_np(const geom *g) { return (size_t)g->N * g->Ho * g->Wo; }

/* Floats kept free before col and after t: col2im_k4s2p1 loads up to Wo+1
 * floats outside col (and discards them). A multiple of 16 keeps col and t
 * as aligned as the buffer. */
static size_t col_guard(const geom *g) { return ((size_t)g->Wo + 1 + 15) / 16 * 16; }
static size_t col_floats(const geom *g) { return geom_rows(g) * geom_np(g); }
static size_t col_off(const geom *g) { return col_guard(g); }
static size_t t_off(const geom *g) { return col_guard(g) + col_floats(g); }
/* The image side of a 4x4, stride-2, pad-1 layer whose image is twice the
 * grid (DCGAN's up- and down-sampling): its input gradient (transposed: its
 * forward) can run as phase products (phase_width). */
static int k4s2(const geom *g)
{
    return g->KH == 4 && g->KW == 4 && g->stride == 2 && g->pad == 1 &&
           g->Hi == 2 * g->Ho && g->Wi == 2 * g->Wo;
}

/* The phase products' operands in the workspace: the bordered
 * channels-last grid, then (16-float aligned) the weight's taps per phase. */
static size_t align16(size_t n) { return (n + 15) / 16 * 16; }
static size_t phase_wp_off(const geom *g)
{
    return align16((size_t)g->N * (g->Ho + 2) * (g->Wo + 2) * g->Co);
}
/* The taps' panels are at most as wide as PHASE_MAX_PW (the widest own
 * tile), so the workspace does not depend on the device. */
enum { PHASE_MAX_PW = 64 };
static size_t phase_work(const geom *g)
{
    size_t ci = ((size_t)g->Ci + PHASE_MAX_PW - 1) / PHASE_MAX_PW * PHASE_MAX_PW;
    return phase_wp_off(g) + 16 * (size_t)g->Co * ci;
}

static size_t geom_work(const geom *g)
{
    size_t cols = 2 * col_guard(g) + col_floats(g) + (size_t)g->Co * geom_np(g);
    return k4s2(g) && phase_work(g) > cols ? phase_work(g) : cols;
}

/* im2col's panel width (it pads no panel: the width divides NP), else 0
 * (plain columns). */
static int col_panel_width(clgm_ctx *ctx, const geom *g)
{
    return op_gemm_panel_width(ctx, geom_np(g));
}

/* Grid from image with few rows (a short K: the product is as cheap as the
 * layout swap after it): one product per image into grid directly, from
 * plain columns. Needs planes of at least a tile (64 keeps the shifted
 * last tile's recomputation small). */
static int grid_direct(const geom *g)
{
    return geom_rows(g) <= 64 && g->Ho * g->Wo >= 64;
}

/* The panel width of the columns that grid_from_col reads. */
static int grid_col_width(clgm_ctx *ctx, const geom *g)
{
    return grid_direct(g) ? 0 : col_panel_width(ctx, g);
}

/* Work-groups of 64: 64x1 along the contiguous axis (dim 0), or 16x4 when
 * that axis is short (small planes), so they still fill the group. Only two
 * shapes, because PoCL compiles a kernel once per work-group size. */
static void local_for(size_t n0, size_t l[2])
{
    l[0] = n0 > 16 ? 64 : 16;
    l[1] = 64 / l[0];
}

static const char *kind_name(int transposed) { return transposed ? "conv_transpose2d" : "conv2d"; }

clgm_status op_conv_out_shape(clgm_ctx *ctx, op_conv_shape *s, int transposed)
{
    const char *op = kind_name(transposed);
    if (s->N < 1 || s->C < 1 || s->H < 1 || s->W < 1 || s->OC < 1)
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "%s: input (N=%d, C=%d, H=%d, W=%d) and OC=%d must all be >= 1",
                         op, s->N, s->C, s->H, s->W, s->OC);
    if (s->KH < 1 || s->KW < 1 || s->stride < 1 || s->pad < 0)
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "%s: kernel %dx%d, stride %d, pad %d: need kernel >= 1, stride >= 1, pad >= 0",
                         op, s->KH, s->KW, s->stride, s->pad);
    long long oh, ow;
    if (!transposed) {
        if (s->out_pad != 0)
            return clgm_fail(ctx, CLGM_ERR_SHAPE, "conv2d: out_pad is %d; it only exists for conv_transpose2d (set 0)",
                             s->out_pad);
        if (s->H + 2LL * s->pad < s->KH || s->W + 2LL * s->pad < s->KW)
            return clgm_fail(ctx, CLGM_ERR_SHAPE, "conv2d: kernel %dx%d is larger than the padded input %lldx%lld (H=%d W=%d pad %d)",
                             s->KH, s->KW, s->H + 2LL * s->pad, s->W + 2LL * s->pad, s->H, s->W, s->pad);
        oh = (s->H + 2LL * s->pad - s->KH) / s->stride + 1;
        ow = (s->W + 2LL * s->pad - s->KW) / s->stride + 1;
    } else {
        if (s->out_pad < 0 || s->out_pad >= s->stride)
            return clgm_fail(ctx, CLGM_ERR_SHAPE, "conv_transpose2d: out_pad %d must be in [0, stride %d)",
                             s->out_pad, s->stride);
        oh = (s->H - 1LL) * s->stride - 2LL * s->pad + s->KH + s->out_pad;
        ow = (s->W - 1LL) * s->stride - 2LL * s->pad + s->KW + s->out_pad;
        if (oh < 1 || ow < 1)
            return clgm_fail(ctx, CLGM_ERR_SHAPE, "conv_transpose2d: output %lldx%lld from input %dx%d, kernel %dx%d, stride %d, pad %d, out_pad %d is empty",
                             oh, ow, s->H, s->W, s->KH, s->KW, s->stride, s->pad, s->out_pad);
    }
    /* the kernels divide by float reciprocals, exact for quotients < 2^21 */
    if (oh >= (1 << 21) || ow >= (1 << 21) || s->N >= (1 << 21) || s->H >= (1 << 21) ||
        s->W >= (1 << 21) || s->C >= (1 << 21) || s->OC >= (1 << 21))
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "%s: N=%d, C=%d, OC=%d, input %dx%d or output %lldx%lld reaches 2^21",
                         op, s->N, s->C, s->OC, s->H, s->W, oh, ow);
    s->OH = (int)oh;
    s->OW = (int)ow;
    /* Every index the kernels compute must fit in an int. */
    double in = (double)s->N * s->C * s->H * s->W, out = (double)s->N * s->OC * oh * ow;
    double wn = (double)s->OC * s->C * s->KH * s->KW;
    geom g = geom_of(s, transposed);
    double work = (double)geom_rows(&g) * (double)geom_np(&g) +
                  (double)g.Co * (double)geom_np(&g) + 2.0 * (double)col_guard(&g);
    if (k4s2(&g)) { /* the phase products' operands (phase_work) */
        double phases = (double)g.N * (g.Ho + 2) * (g.Wo + 2) * g.Co + 16 +
                        16.0 * g.Co * (g.Ci + PHASE_MAX_PW);
        if (phases > work) work = phases;
    }
    if (in > INT32_MAX || out > INT32_MAX || wn > INT32_MAX || work > INT32_MAX)
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "%s: input %.0f, output %.0f, weight %.0f or workspace %.0f floats exceed 2^31",
                         op, in, out, wn, work);
    return CLGM_OK;
}

size_t op_conv_workspace(const op_conv_shape *s, int transposed)
{
    geom g = geom_of(s, transposed);
    return geom_work(&g);
}

/* The shape must be what op_conv_out_shape produces; buffers must hold it. */
static clgm_status check_shape(clgm_ctx *ctx, const op_conv_shape *s, int transposed)
{
    op_conv_shape t = *s;
    CLGM_TRY(op_conv_out_shape(ctx, &t, transposed));
    if (t.OH != s->OH || t.OW != s->OW)
        return clgm_fail(ctx, CLGM_ERR_SHAPE, "%s: output is given as %dx%d but the shape gives %dx%d (fill it with op_conv_out_shape)",
                         kind_name(transposed), s->OH, s->OW, t.OH, t.OW);
    return CLGM_OK;
}

/* Work-groups for a panel-major launch (dim 0 the column in a panel pw
 * wide): as wide as the panel where 64 does not divide it, so no item idles. */
static void panel_local(int pw, size_t l[3])
{
    local_for((size_t)pw, l);
    if (pw % 64) {
        l[0] = pw % 32 == 0 ? 32 : 16;
        l[1] = 64 / l[0];
    }
    l[2] = 1;
}

/* ---- the three kernels of cl/conv.cl ---- */

/* col = im2col(img), panel-major when pw > 0 (panels rows*pw floats apart). */
static clgm_status im2col(clgm_ctx *ctx, const geom *g, clgm_buf *img, size_t ioff,
                          clgm_buf *col, int pw)
{
    /* fixed-size entry points for the common kernels (cl/conv.cl) */
    const char *kernel = "im2col";
    if (g->KH == g->KW && g->KH == 1) kernel = "im2col_k1";
    else if (g->KH == g->KW && g->KH == 3) kernel = "im2col_k3";
    else if (g->KH == g->KW && g->KH == 4) kernel = "im2col_k4";
    int w = pw ? pw : (int)geom_np(g); /* plain: one panel (cl/conv.cl) */
    size_t gl[3] = {(size_t)w, (size_t)g->Ci, geom_np(g) / (size_t)w}, l[3] = {0, 0, 1};
    if (pw) panel_local(pw, l);
    else local_for(gl[0], l);
    return clgm_launch(ctx, "conv", NULL, kernel, 3, gl, l, "biiiiiiiiiiibiii", img,
                       (int)ioff, g->N, g->Ci, g->Hi, g->Wi, g->KH, g->KW, g->stride,
                       g->pad, g->Ho, g->Wo, col, (int)col_off(g), w, (int)geom_rows(g) * w);
}

/* The activation-backward arguments of col2im and swap01 (cl/conv.cl):
 * their *_dgrad entry points read y; the plain ones take `fallback` (a
 * buffer the kernel has anyway) and never read it. */
typedef struct mask_args {
    clgm_buf *buf;
    int off, relu;
    float slope;
} mask_args;

static mask_args mask_of(const op_dmask *dm, clgm_buf *fallback)
{
    if (!dm) return (mask_args){fallback, 0, 0, 0.0f};
    return (mask_args){dm->y, (int)dm->yoff, dm->act == OP_ACT_RELU, dm->slope};
}

/* "name" or "name_dgrad" */
static const char *entry(char *buf, size_t n, const char *name, const op_dmask *dm)
{
    snprintf(buf, n, "%s%s", name, dm ? "_dgrad" : "");
    return buf;
}

static clgm_status col2im(clgm_ctx *ctx, const geom *g, clgm_buf *col, clgm_buf *img,
                          size_t ioff, const op_dmask *dm)
{
    const mask_args mk = mask_of(dm, img);
    char name[32];
    if (g->KH == 4 && g->KW == 4 && g->stride == 2 && g->pad == 1 && g->Hi == 2 * g->Ho &&
        g->Wi == 2 * g->Wo) {
        size_t gl[2] = {geom_np(g), (size_t)g->Ci}, l[2] = {64, 1};
        return clgm_launch(ctx, "conv", NULL, entry(name, sizeof name, "col2im_k4s2p1", dm), 2,
                           gl, l, "biiiiibibiif", col, (int)col_off(g), g->N, g->Ci, g->Ho,
                           g->Wo, img, (int)ioff, mk.buf, mk.off, mk.relu, (double)mk.slope);
    }
    /* candidates per axis: ceil(K / stride); 1..4 square have entry points */
    static const char *const fixed[] = {"col2im_m1", "col2im_m2", "col2im_m3", "col2im_m4"};
    int mh = (g->KH + g->stride - 1) / g->stride, mw = (g->KW + g->stride - 1) / g->stride;
    const char *kernel = (mh == mw && mh <= 4) ? fixed[mh - 1] : "col2im";
    size_t gl[2] = {(size_t)g->Hi * g->Wi, (size_t)g->N * g->Ci}, l[2];
    local_for(gl[0], l);
    return clgm_launch(ctx, "conv", NULL, entry(name, sizeof name, kernel, dm), 2, gl, l,
                       "biiiiiiiiiiibibiif", col, (int)col_off(g), g->N, g->Ci, g->Hi, g->Wi,
                       g->KH, g->KW, g->stride, g->pad, g->Ho, g->Wo, img, (int)ioff, mk.buf,
                       mk.off, mk.relu, (double)mk.slope);
}

/* out (B, A, L) = in (A, B, L), times act'(y) with dm */
static clgm_status swap01_masked(clgm_ctx *ctx, clgm_buf *in, size_t ioff, int A, int B,
                                 int L, clgm_buf *out, size_t ooff, const op_dmask *dm)
{
    const mask_args mk = mask_of(dm, out);
    size_t gl[3] = {(size_t)L, (size_t)A, (size_t)B}, l[3] = {0, 0, 1};
    local_for(gl[0], l);
    if (L <= 256 && (size_t)L <= ctx->info.max_work_group_size) {
        /* groups exactly one plane wide: all full, so PoCL vectorizes them */
        l[0] = (size_t)L;
        l[1] = L < 64 ? (size_t)(64 / L) : 1;
    }
    char name[32];
    return clgm_launch(ctx, "conv", NULL, entry(name, sizeof name, "swap01", dm), 3, gl, l,
                       "biiiibibiif", in, (int)ioff, A, B, L, out, (int)ooff, mk.buf, mk.off,
                       mk.relu, (double)mk.slope);
}

static clgm_status swap01(clgm_ctx *ctx, clgm_buf *in, size_t ioff, int A, int B,
                          int L, clgm_buf *out, size_t ooff)
{
    return swap01_masked(ctx, in, ioff, A, B, L, out, ooff, NULL);
}

/* out = swap01(in) with out's A*L columns panel-major, pw wide (pw divides
 * A*L), as the GEMM reads B. */
static clgm_status swap01_panels(clgm_ctx *ctx, clgm_buf *in, size_t ioff, int A, int B,
                                 int L, int pw, clgm_buf *out, size_t ooff)
{
    size_t gl[3] = {(size_t)pw, (size_t)B, (size_t)A * L / pw}, l[3];
    panel_local(pw, l);
    return clgm_launch(ctx, "conv", NULL, "swap01_panels", 3, gl, l, "biiiiiibi", in,
                       (int)ioff, A, B, L, pw, B * pw, out, (int)ooff);
}

/* ---- the three directions (see the top comment) ---- */

/* grid = swap(act(Wm col + bias)) with col already in the workspace (as
 * im2col wrote it with panel width pw); bias (one per output channel, a row
 * of the product) and act may be NULL; with dm (a gradient: no bias or act)
 * grid = act'(y) * swap(Wm col). */
static clgm_status grid_from_col(clgm_ctx *ctx, const geom *g, int pw, clgm_buf *w,
                                 size_t woff, clgm_buf *bias, size_t boff, const op_act *act,
                                 float slope, const op_dmask *dm, clgm_buf *grid, size_t goff,
                                 clgm_buf *work)
{
    int rows = (int)geom_rows(g), np = (int)geom_np(g), hw = g->Ho * g->Wo;
    size_t toff = t_off(g);
    op_bias bm = bias ? OP_BIAS_ROWS : OP_BIAS_NONE;
    if (!pw && grid_direct(g))
        return op_gemm_epilogue_batched(ctx, OP_N, OP_N, g->Co, hw, rows, 1.0f, w, woff,
                                        rows, 0, work, col_off(g), np, (size_t)hw, 0.0f, grid,
                                        goff, hw, (size_t)g->Co * hw, g->N, bm, bias, boff,
                                        act, slope, dm);
    if (pw)
        CLGM_TRY(op_gemm_panel_b(ctx, OP_N, OP_N, g->Co, np, rows, 1.0f, w, woff, rows, work,
                                 col_off(g), rows * pw, 0.0f, work, toff, np, bm, bias, boff,
                                 act, slope));
    else
        CLGM_TRY(op_gemm_epilogue_batched(ctx, OP_N, OP_N, g->Co, np, rows, 1.0f, w, woff,
                                          rows, 0, work, col_off(g), np, 0, 0.0f, work, toff,
                                          np, 0, 1, bm, bias, boff, act, slope, NULL));
    return swap01_masked(ctx, work, toff, g->Co, g->N, hw, grid, goff, dm);
}

/* image = col2im(Wm^T t) with t in the workspace, panel-major when tp > 0;
 * times act'(y) with dm. */
static clgm_status image_from_t(clgm_ctx *ctx, const geom *g, int tp, clgm_buf *w,
                                size_t woff, clgm_buf *img, size_t ioff, const op_dmask *dm,
                                clgm_buf *work)
{
    int rows = (int)geom_rows(g), np = (int)geom_np(g);
    if (tp)
        CLGM_TRY(op_gemm_panel_b(ctx, OP_T, OP_N, rows, np, g->Co, 1.0f, w, woff, rows, work,
                                 t_off(g), g->Co * tp, 0.0f, work, col_off(g), np,
                                 OP_BIAS_NONE, NULL, 0, NULL, 0.0f));
    else
        CLGM_TRY(op_gemm(ctx, OP_T, OP_N, rows, np, g->Co, 1.0f, w, woff, rows, work,
                         t_off(g), np, 0.0f, work, col_off(g), np));
    return col2im(ctx, g, work, img, ioff, dm);
}

/* image (as col2im(Wm^T grid)) for a k4s2 layer as four phase products
 * (cl/gemm.cl gemm_k4s2_phases), times act'(y) with dm: no column matrix
 * (the product wrote N*Ho*Wo*Ci*16 floats that col2im read back), and the
 * products' K is 4*Co taps instead of Co. On the own kernels with Ci at
 * least a tile wide. */
static int phase_width(clgm_ctx *ctx, const geom *g)
{
    return k4s2(g) ? op_gemm_k4s2_phases_width(ctx, g->Ci) : 0;
}

static clgm_status image_from_grid_phases(clgm_ctx *ctx, const geom *g, clgm_buf *w,
                                          size_t woff, clgm_buf *grid, size_t goff,
                                          clgm_buf *img, size_t ioff, const op_dmask *dm,
                                          clgm_buf *work)
{
    const size_t wp = phase_wp_off(g);
    const int pw = phase_width(ctx, g), panels = (g->Ci + pw - 1) / pw;
    if (pw > PHASE_MAX_PW)
        return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                         "conv: GEMM tiles %d wide exceed the %d the workspace allows for",
                         pw, PHASE_MAX_PW);
    size_t gl[3] = {(size_t)g->Co, (size_t)(g->Ho + 2) * (g->Wo + 2), (size_t)g->N}, l[3];
    local_for(gl[0], l);
    l[2] = 1;
    CLGM_TRY(clgm_launch(ctx, "conv", NULL, "k4s2_grid_padded", 3, gl, l, "biiiiibi", grid,
                         (int)goff, g->N, g->Co, g->Ho, g->Wo, work, 0));
    size_t wl[3] = {(size_t)panels * pw, (size_t)g->Co, 16};
    local_for(wl[0], l);
    CLGM_TRY(clgm_launch(ctx, "conv", NULL, "k4s2_phase_weights", 3, wl, l, "biiiibi", w,
                         (int)woff, g->Co, g->Ci, pw, work, (int)wp));
    return op_gemm_k4s2_phases(ctx, g->N, g->Ci, g->Co, g->Ho, g->Wo, work, 0, work, wp, img,
                               ioff, dm);
}

/* The weight gradient as an NN product over col^T in panels
 * (im2col_k4_tpanels): 4x4 kernels, rows a multiple of the panel width 32
 * on a device whose GEMM reads panels. The dot-product kernel's streams
 * for t col^T came from L2: dcgan, 6 alternating pairs, gemm_nt 13.7 ms
 * per step left for 10.7 more of gemm_nn and 3.9 of these columns against
 * 3.3 of plain ones: kernel time 0.97x. */
static int tpanel_grad(clgm_ctx *ctx, const geom *g)
{
    return g->KH == 4 && g->KW == 4 && geom_rows(g) >= 64 &&
           op_gemm_panel_width(ctx, geom_rows(g)) == 32;
}

/* dWm += t col^T with t plain in the workspace and col^T written here in
 * panels (tpanel_grad). */
static clgm_status weight_grad_tpanels(clgm_ctx *ctx, const op_conv_shape *s, const geom *g,
                                       clgm_buf *img, size_t ioff, clgm_buf *dw, size_t dwoff,
                                       clgm_buf *work)
{
    int rows = (int)geom_rows(g), np = (int)geom_np(g);
    size_t gl[3] = {32, (size_t)np, (size_t)g->Ci / 2}, l[3] = {32, 8, 1};
    while (np % (int)l[1]) l[1] /= 2; /* groups of a single position were 2x slower */
    CLGM_TRY(clgm_launch(ctx, "conv", NULL, "im2col_k4_tpanels", 3, gl, l, "biiiiiiiiibii", img,
                         (int)ioff, g->N, g->Ci, g->Hi, g->Wi, g->stride, g->pad, g->Ho, g->Wo,
                         work, (int)col_off(g), np * 32));
    return op_gemm_panel_b(ctx, OP_N, OP_N, g->Co, rows, np, 1.0f, work, t_off(g), np, work,
                           col_off(g), np * 32, s->dw_overwrite ? 0.0f : 1.0f, dw, dwoff, rows,
                           OP_BIAS_NONE, NULL, 0, NULL, 0.0f);
}

/* dWm += t col^T (dWm = with s->dw_overwrite) with plain col and t already
 * in the workspace. */
static clgm_status weight_grad(clgm_ctx *ctx, const op_conv_shape *s, const geom *g,
                               clgm_buf *dw, size_t dwoff, clgm_buf *work)
{
    int rows = (int)geom_rows(g), np = (int)geom_np(g);
    return op_gemm(ctx, OP_N, OP_T, g->Co, rows, np, 1.0f, work, t_off(g), np, work,
                   col_off(g), np, s->dw_overwrite ? 0.0f : 1.0f, dw, dwoff, rows);
}

/* Validates everything a call touches. dx and dw may be NULL (skipped). */
static clgm_status check_call(clgm_ctx *ctx, const op_conv_shape *s, int transposed,
                              int forward, clgm_buf *x, size_t xoff, clgm_buf *w, size_t woff,
                              clgm_buf *y, size_t yoff, const char *yname,
                              clgm_buf *dx, size_t dxoff, clgm_buf *dw, size_t dwoff,
                              clgm_buf *work)
{
    const char *op = kind_name(transposed);
    CLGM_TRY(check_shape(ctx, s, transposed));
    size_t nx = (size_t)s->N * s->C * s->H * s->W;
    size_t ny = (size_t)s->N * s->OC * s->OH * s->OW;
    size_t nw = (size_t)s->OC * s->C * s->KH * s->KW;
    /* x is read by the forward and by the weight gradient only */
    if (forward || dw) CLGM_TRY(ops_check_buf(ctx, op, "x", x, xoff, nx));
    CLGM_TRY(ops_check_buf(ctx, op, "weight", w, woff, nw));
    CLGM_TRY(ops_check_buf(ctx, op, yname, y, yoff, ny));
    if (dx) CLGM_TRY(ops_check_buf(ctx, op, "dx", dx, dxoff, nx));
    if (dx && s->dx_mask) {
        const op_dmask *dm = s->dx_mask;
        if (dm->act != OP_ACT_RELU && dm->act != OP_ACT_LEAKY_RELU)
            return clgm_fail(ctx, CLGM_ERR_INVALID_ARG,
                             "%s: dx_mask activation %d: only ReLU and leaky ReLU fold into dx",
                             op, (int)dm->act);
        CLGM_TRY(ops_check_buf(ctx, op, "dx_mask y", dm->y, dm->yoff, nx));
    }
    if (dw) CLGM_TRY(ops_check_buf(ctx, op, "dw", dw, dwoff, nw));
    CLGM_TRY(ops_check_buf(ctx, op, "work (op_conv_workspace floats)", work, 0,
                       op_conv_workspace(s, transposed)));
    return CLGM_OK;
}

clgm_status op_conv2d_forward_bias(clgm_ctx *ctx, const op_conv_shape *s, clgm_buf *x,
                                   size_t xoff, clgm_buf *w, size_t woff, clgm_buf *bias,
                                   size_t boff, const op_act *act, float slope, clgm_buf *y,
                                   size_t yoff, clgm_buf *work)
{
    CLGM_TRY(check_call(ctx, s, 0, 1, x, xoff, w, woff, y, yoff, "y", NULL, 0, NULL, 0, work));
    if (bias) CLGM_TRY(ops_check_buf(ctx, "conv2d", "bias", bias, boff, (size_t)s->OC));
    geom g = geom_of(s, 0);
    int pw = grid_col_width(ctx, &g);
    CLGM_TRY(im2col(ctx, &g, x, xoff, work, pw));
    return grid_from_col(ctx, &g, pw, w, woff, bias, boff, act, slope, NULL, y, yoff, work);
}

clgm_status op_conv2d_forward(clgm_ctx *ctx, const op_conv_shape *s, clgm_buf *x,
                              size_t xoff, clgm_buf *w, size_t woff, clgm_buf *y,
                              size_t yoff, clgm_buf *work)
{
    return op_conv2d_forward_bias(ctx, s, x, xoff, w, woff, NULL, 0, NULL, 0.0f, y, yoff,
                                  work);
}

static clgm_status conv2d_backward(clgm_ctx *ctx, const op_conv_shape *s, clgm_buf *x,
                                   size_t xoff, clgm_buf *w, size_t woff, clgm_buf *dy,
                                   size_t dyoff, clgm_buf *dx, size_t dxoff, clgm_buf *dw,
                                   size_t dwoff, clgm_buf *work, int cols_ready)
{
    CLGM_TRY(check_call(ctx, s, 0, 0, x, xoff, w, woff, dy, dyoff, "dy", dx, dxoff, dw,
                        dwoff, work));
    if (!dx && !dw) return CLGM_OK;
    geom g = geom_of(s, 0);
    size_t toff = t_off(&g);
    int pw = col_panel_width(ctx, &g); /* t's, for dx */
    int fwd_plain = !grid_col_width(ctx, &g); /* the forward's columns: ctx and shape */
    int phases = dx && phase_width(ctx, &g);  /* dx without t or col */
    /* t = dy in GEMM layout (after col in work: the columns survive); dw
     * from col^T in panels (tpanel_grad) or from col = im2col(x) unless the
     * forward's plain ones are still there; then dx (col overwritten), from
     * the phase products or from t, panel-major where the GEMM reads panels. */
    if (dw || (!pw && !phases))
        CLGM_TRY(swap01(ctx, dy, dyoff, g.N, g.Co, g.Ho * g.Wo, work, toff));
    if (dw) {
        if (tpanel_grad(ctx, &g)) {
            CLGM_TRY(weight_grad_tpanels(ctx, s, &g, x, xoff, dw, dwoff, work));
        } else {
            if (!cols_ready || !fwd_plain) CLGM_TRY(im2col(ctx, &g, x, xoff, work, 0));
            CLGM_TRY(weight_grad(ctx, s, &g, dw, dwoff, work));
        }
    }
    if (!dx) return CLGM_OK;
    if (phases)
        return image_from_grid_phases(ctx, &g, w, woff, dy, dyoff, dx, dxoff, s->dx_mask, work);
    if (pw) CLGM_TRY(swap01_panels(ctx, dy, dyoff, g.N, g.Co, g.Ho * g.Wo, pw, work, toff));
    return image_from_t(ctx, &g, pw, w, woff, dx, dxoff, s->dx_mask, work);
}

clgm_status op_conv2d_backward(clgm_ctx *ctx, const op_conv_shape *s, clgm_buf *x,
                               size_t xoff, clgm_buf *w, size_t woff, clgm_buf *dy,
                               size_t dyoff, clgm_buf *dx, size_t dxoff, clgm_buf *dw,
                               size_t dwoff, clgm_buf *work)
{
    return conv2d_backward(ctx, s, x, xoff, w, woff, dy, dyoff, dx, dxoff, dw, dwoff, work, 0);
}

int op_conv2d_reuses_columns(clgm_ctx *ctx, const op_conv_shape *s)
{
    geom g = geom_of(s, 0);
    return !grid_col_width(ctx, &g) && !tpanel_grad(ctx, &g);
}

clgm_status op_conv2d_backward_reuse(clgm_ctx *ctx, const op_conv_shape *s, clgm_buf *x,
                                     size_t xoff, clgm_buf *w, size_t woff, clgm_buf *dy,
                                     size_t dyoff, clgm_buf *dx, size_t dxoff, clgm_buf *dw,
                                     size_t dwoff, clgm_buf *work)
{
    return conv2d_backward(ctx, s, x, xoff, w, woff, dy, dyoff, dx, dxoff, dw, dwoff, work, 1);
}

clgm_status op_convt2d_forward(clgm_ctx *ctx, const op_conv_shape *s, clgm_buf *x,
                               size_t xoff, clgm_buf *w, size_t woff, clgm_buf *y,
                               size_t yoff, clgm_buf *work)
{
    CLGM_TRY(check_call(ctx, s, 1, 1, x, xoff, w, woff, y, yoff, "y", NULL, 0, NULL, 0, work));
    geom g = geom_of(s, 1);
    if (phase_width(ctx, &g))
        return image_from_grid_phases(ctx, &g, w, woff, x, xoff, y, yoff, NULL, work);
    size_t toff = t_off(&g);
    int pw = col_panel_width(ctx, &g);
    if (pw) CLGM_TRY(swap01_panels(ctx, x, xoff, g.N, g.Co, g.Ho * g.Wo, pw, work, toff));
    else CLGM_TRY(swap01(ctx, x, xoff, g.N, g.Co, g.Ho * g.Wo, work, toff));
    return image_from_t(ctx, &g, pw, w, woff, y, yoff, NULL, work);
}

clgm_status op_convt2d_backward(clgm_ctx *ctx, const op_conv_shape *s, clgm_buf *x,
                                size_t xoff, clgm_buf *w, size_t woff, clgm_buf *dy,
                                size_t dyoff, clgm_buf *dx, size_t dxoff, clgm_buf *dw,
                                size_t dwoff, clgm_buf *work)
{
    CLGM_TRY(check_call(ctx, s, 1, 0, x, xoff, w, woff, dy, dyoff, "dy", dx, dxoff, dw,
                        dwoff, work));
    if (!dx && !dw) return CLGM_OK;
    geom g = geom_of(s, 1);
    size_t toff = t_off(&g);
    /* t = x in GEMM layout, col = im2col(dy) (plain, or col^T in panels);
     * dw; then dx = conv of dy from the same col where it is plain and the
     * GEMM reads it so, else from columns written again (panel-major where
     * the GEMM reads that), overwriting t (the queue is in order: the dw
     * GEMM has read it by then) */
    int pw = grid_col_width(ctx, &g), tp = dw && tpanel_grad(ctx, &g);
    if (dw) {
        CLGM_TRY(swap01(ctx, x, xoff, g.N, g.Co, g.Ho * g.Wo, work, toff));
        if (tp) {
            CLGM_TRY(weight_grad_tpanels(ctx, s, &g, dy, dyoff, dw, dwoff, work));
        } else {
            CLGM_TRY(im2col(ctx, &g, dy, dyoff, work, 0));
            CLGM_TRY(weight_grad(ctx, s, &g, dw, dwoff, work));
        }
    }
    if (!dx) return CLGM_OK;
    if (!dw || pw || tp) CLGM_TRY(im2col(ctx, &g, dy, dyoff, work, pw));
    return grid_from_col(ctx, &g, pw, w, woff, NULL, 0, NULL, 0.0f, s->dx_mask, dx, dxoff,
                         work);
}
