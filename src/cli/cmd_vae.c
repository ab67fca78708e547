/* The VAE tools: clgm reconstruct, manifold, encode, decode and inpaint.
 * Encoding uses the posterior mean; decoding is the decoder's sigmoid output
 * (gm_generate with given codes, which also serves GAN generators in decode). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>

#include "app/dataset.h"
#include "app/image_grid.h"
#include "app/safetensors.h"
#include "cli/cli.h"
#include "models/gm.h"

/* Most images per launch: bounds the model's activation memory. */
#define MAX_GEN_BATCH 256
#define DEFAULT_DATA "fashion-mnist:test"

static int bad_option(const char *cmd, char **argv)
{
    return cli_error(cmd, "unknown or incomplete option '%s' (see clgm %s --help)",
                     argv[optind - 1], cmd), 2;
}

/* The one positional argument (two for decode); exit code 2 when wrong. */
static int positional(const char *cmd, int argc, char **argv, int want, const char **args)
{
    for (int i = 0; i < want; i++) {
        if (optind >= argc)
            return cli_error(cmd, "missing %s (see clgm %s --help)", i ? "the codes file" : "the checkpoint",
                             cmd), 2;
        args[i] = argv[optind++];
    }
    if (optind < argc)
        return cli_error(cmd, "unexpected argument '%s' (see clgm %s --help)", argv[optind], cmd), 2;
    return 0;
}

/* Loads the checkpoint for batches up to n; need_vae: refuse a GAN with a
 * message naming what is needed. */
static int load_ckpt(const char *cmd, clgm_ctx *ctx, const char *ckpt, int n, int need_vae,
                     gm_model **m)
{
    int batch = n < 1 ? 1 : n < MAX_GEN_BATCH ? n : MAX_GEN_BATCH;
    clgm_status st = gm_load(ctx, ckpt, batch, m);
    if (st != CLGM_OK) return cli_fail(cmd, ctx, st);
    if (need_vae && (*m)->family == GM_GAN)
        return cli_error(cmd, "%s is a GAN checkpoint (%s) with no encoder; %s needs a VAE "
                         "(clgm train vae or conv-vae)", ckpt, (*m)->name, cmd);
    return 0;
}

static int load_model(const char *cmd, const char *device, const char *ckpt, int n, int need_vae,
                      clgm_ctx **ctx, gm_model **m)
{
    int rc = cli_open(cmd, device, ctx);
    return rc ? rc : load_ckpt(cmd, *ctx, ckpt, n, need_vae, m);
}

static size_t pixels_of(const gm_model *m)
{
    return (size_t)m->img_c * m->img_h * m->img_w;
}

static int write_png(const char *cmd, const char *path, const gm_model *m, const float *img,
                     int n, int cols)
{
    char err[512];
    if (grid_write_png(path, img, n, m->img_c, m->img_h, m->img_w, 0, 1, cols, 2, err,
                       sizeof err) != CLGM_OK)
        return cli_error(cmd, "%s", err);
    return 0;
}

/* Opens the data in the model's shape and copies n images (all when n <= 0)
 * into a malloc'd (n,C,H,W) block; labels (optional) get a malloc'd array or
 * NULL when the set has none. */
static int load_images(const char *cmd, const gm_model *m, const char *spec, int *n,
                       float **images, int **labels)
{
    char err[1024];
    ds_dataset *ds;
    if (ds_open(spec, m->img_c, m->img_h, m->img_w, &ds, err, sizeof err) != CLGM_OK)
        return cli_error(cmd, "%s", err);
    int count = ds_count(ds), rc = 0;
    if (*n <= 0) *n = count;
    if (*n > count) rc = cli_error(cmd, "%s has %d images, fewer than --n %d", ds_source(ds), count, *n);
    size_t bytes = (size_t)*n * pixels_of(m) * sizeof(float);
    if (!rc && !(*images = malloc(bytes))) rc = cli_error(cmd, "out of host memory");
    if (!rc) memcpy(*images, ds_images(ds), bytes);
    if (!rc && labels) {
        *labels = NULL;
        if (ds_num_classes(ds) > 0) {
            if (!(*labels = malloc((size_t)*n * sizeof **labels))) rc = cli_error(cmd, "out of host memory");
            for (int i = 0; !rc && i < *n; i++) (*labels)[i] = ds_label(ds, i);
        }
    }
    ds_close(ds);
    return rc;
}

/* recon <- decode(mean of q(z|x)); mu: scratch (n, latent). */
static clgm_status reconstruct(gm_model *m, const float *x, int n, float *mu, float *recon)
{
    clgm_status st = gm_encode(m, x, n, mu);
    return st == CLGM_OK ? gm_generate(m, mu, n, 0, 0, recon) : st;
}

/* Interleaves k image sets (each n images) as bands of `cols` columns: a row
 * of set 0, a row of set 1, ... then the next `cols` images. Missing tiles at
 * the end of the last band stay blank (value blank). Returns the tile count. */
static int interleave(const float *const *sets, int k, int n, int cols, size_t pix, float blank,
                      float *out)
{
    int bands = (n + cols - 1) / cols, t = 0;
    for (int b = 0; b < bands; b++)
        for (int s = 0; s < k; s++)
            for (int j = 0; j < cols; j++, t++) {
                int i = b * cols + j;
                float *dst = out + (size_t)t * pix;
                if (i < n) memcpy(dst, sets[s] + (size_t)i * pix, pix * sizeof *dst);
                else for (size_t p = 0; p < pix; p++) dst[p] = blank;
            }
    return t;
}

/* ---- clgm reconstruct ---- */

static void reconstruct_help(void)
{
    printf("usage: clgm reconstruct CKPT [options]\n\n"
           "VAE: shows the first N images of the data (rows of originals) above their\n"
           "reconstructions, the decodes of the posterior means.\n\n"
           "options:\n"
           "  --data SPEC         images, as for clgm train (default " DEFAULT_DATA ")\n"
           "  -n, --n N           number of images (default 32)\n"
           "  --cols N            images per row (default 16)\n"
           "  -o, --out FILE      PNG (default recon.png)\n"
           "  -d, --device SEL    device (default: $CLGM_DEVICE, else the best GPU, else CPU)\n\n"
           "examples:\n"
           "  clgm reconstruct runs/vae/checkpoint.safetensors\n"
           "  clgm reconstruct runs/conv-vae/checkpoint.safetensors --data photos/ --n 8 \\\n"
           "      --cols 8 --out conv-recon.png\n");
}

int cmd_reconstruct(int argc, char **argv)
{
    enum { O_DATA = 256, O_COLS };
    static const struct option opts[] = {
        {"data", required_argument, 0, O_DATA}, {"n", required_argument, 0, 'n'},
        {"cols", required_argument, 0, O_COLS}, {"out", required_argument, 0, 'o'},
        {"device", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *data = DEFAULT_DATA, *out = "recon.png", *device = NULL, *ckpt;
    long n = 32, cols = 16;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "n:o:d:h", opts, NULL)) != -1) {
        switch (c) {
        case O_DATA: data = optarg; break;
        case 'n': if (!cli_parse_long("reconstruct", optarg, "--n", 1, 100000, &n)) return 2; break;
        case O_COLS: if (!cli_parse_long("reconstruct", optarg, "--cols", 1, 10000, &cols)) return 2; break;
        case 'o': out = optarg; break;
        case 'd': device = optarg; break;
        case 'h': reconstruct_help(); return 0;
        default: return bad_option("reconstruct", argv);
        }
    }
    int rc = positional("reconstruct", argc, argv, 1, &ckpt);
    if (rc) return rc;
    if (cols > n) cols = n;
    clgm_ctx *ctx = NULL;
    gm_model *m = NULL;
    float *x = NULL, *mu = NULL, *recon = NULL, *tiles = NULL;
    int count = (int)n;
    rc = load_model("reconstruct", device, ckpt, count, 1, &ctx, &m);
    if (!rc) rc = load_images("reconstruct", m, data, &count, &x, NULL);
    if (!rc) {
        size_t pix = pixels_of(m), bands = (size_t)(n + cols - 1) / cols;
        mu = malloc((size_t)n * m->latent * sizeof *mu);
        recon = malloc((size_t)n * pix * sizeof *recon);
        tiles = malloc(bands * 2 * cols * pix * sizeof *tiles);
        if (!mu || !recon || !tiles) rc = cli_error("reconstruct", "out of host memory");
    }
    if (!rc) {
        clgm_status st = reconstruct(m, x, count, mu, recon);
        if (st != CLGM_OK) rc = cli_fail("reconstruct", ctx, st);
    }
    if (!rc) {
        const float *sets[2] = {x, recon};
        int t = interleave(sets, 2, count, (int)cols, pixels_of(m), 0, tiles);
        rc = write_png("reconstruct", out, m, tiles, t, (int)cols);
    }
    if (!rc) {
        /* Mean squared error per pixel: a number to compare checkpoints by. */
        double se = 0;
        for (size_t i = 0; i < (size_t)count * pixels_of(m); i++) se += (double)(x[i] - recon[i]) * (x[i] - recon[i]);
        fprintf(stderr, "clgm reconstruct: %d images, pixel MSE %.5f -> %s\n", count,
                se / ((double)count * pixels_of(m)), out);
    }
    free(x);
    free(mu);
    free(recon);
    free(tiles);
    gm_destroy(m);
    clgm_ctx_destroy(ctx);
    return rc;
}

/* ---- clgm manifold ---- */

/* Inverse of the standard normal CDF by bisection on erfc (p in (0,1)):
 * 60 halvings of [-40, 40] are far below float precision. */
static double normal_ppf(double p)
{
    double lo = -40, hi = 40;
    for (int i = 0; i < 60; i++) {
        double mid = 0.5 * (lo + hi);
        if (0.5 * erfc(-mid / sqrt(2.0)) < p) lo = mid; else hi = mid;
    }
    return 0.5 * (lo + hi);
}

static void manifold_help(void)
{
    printf("usage: clgm manifold CKPT [options]\n\n"
           "The latent plane of a VAE trained with a 2-D latent (clgm train vae --latent 2):\n"
           "a SIZE x SIZE grid of decodes, z1 growing left to right and z2 bottom to top.\n\n"
           "options:\n"
           "  --size N            images per side (default 20)\n"
           "  --range R           linear spacing over [-R, R]^2 (default 3)\n"
           "  --normal            spacing by the inverse normal CDF instead: z = ppf((i+0.5)/N),\n"
           "                      equal prior mass per tile (ignores --range)\n"
           "  -o, --out FILE      PNG (default manifold.png)\n"
           "  -d, --device SEL    device (default: $CLGM_DEVICE, else the best GPU, else CPU)\n\n"
           "examples:\n"
           "  clgm train vae --latent 2 --epochs 10 --out runs/vae2d\n"
           "  clgm manifold runs/vae2d/checkpoint.safetensors --size 24 --range 2.5\n"
           "  clgm manifold runs/vae2d/checkpoint.safetensors --normal --out manifold-ppf.png\n");
}

int cmd_manifold(int argc, char **argv)
{
    enum { O_SIZE = 256, O_RANGE, O_NORMAL };
    static const struct option opts[] = {
        {"size", required_argument, 0, O_SIZE}, {"range", required_argument, 0, O_RANGE},
        {"normal", no_argument, 0, O_NORMAL}, {"out", required_argument, 0, 'o'},
        {"device", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = "manifold.png", *device = NULL, *ckpt;
    long size = 20;
    double range = 3;
    int normal = 0, c;
    char *end;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:d:h", opts, NULL)) != -1) {
        switch (c) {
        case O_SIZE: if (!cli_parse_long("manifold", optarg, "--size", 2, 200, &size)) return 2; break;
        case O_RANGE:
            range = strtod(optarg, &end);
            if (end == optarg || *end || !(range > 0) || !isfinite(range))
                return cli_error("manifold", "--range needs a number > 0, not '%s'", optarg), 2;
            break;
        case O_NORMAL: normal = 1; break;
        case 'o': out = optarg; break;
        case 'd': device = optarg; break;
        case 'h': manifold_help(); return 0;
        default: return bad_option("manifold", argv);
        }
    }
    int rc = positional("manifold", argc, argv, 1, &ckpt);
    if (rc) return rc;
    int n = (int)(size * size);
    clgm_ctx *ctx = NULL;
    gm_model *m = NULL;
    float *z = NULL, *img = NULL;
    rc = load_model("manifold", device, ckpt, n, 0, &ctx, &m);
    if (!rc && m->family == GM_GAN)
        rc = cli_error("manifold", "%s is a GAN checkpoint (%s); manifold needs a VAE with a 2-D "
                       "latent (clgm train vae --latent 2)", ckpt, m->name);
    if (!rc && m->latent != 2)
        rc = cli_error("manifold", "%s has a %d-D latent; the manifold plot needs 2 (train with "
                       "clgm train %s --latent 2)", ckpt, m->latent, m->name);
    if (!rc) {
        z = malloc((size_t)n * 2 * sizeof *z);
        img = malloc((size_t)n * pixels_of(m) * sizeof *img);
        if (!z || !img) rc = cli_error("manifold", "out of host memory");
    }
    if (!rc) {
        for (int r = 0; r < size; r++)
            for (int col = 0; col < size; col++) {
                /* Row 0 is the top: the largest z2. */
                double u = normal ? normal_ppf((col + 0.5) / size)
                                  : -range + 2 * range * col / (double)(size - 1);
                double v = normal ? normal_ppf((size - r - 0.5) / size)
                                  : range - 2 * range * r / (double)(size - 1);
                z[2 * ((size_t)r * size + col)] = (float)u;
                z[2 * ((size_t)r * size + col) + 1] = (float)v;
            }
        clgm_status st = gm_generate(m, z, n, 0, 0, img);
        if (st != CLGM_OK) rc = cli_fail("manifold", ctx, st);
    }
    if (!rc) rc = write_png("manifold", out, m, img, n, (int)size);
    if (!rc)
        fprintf(stderr, "clgm manifold: %ldx%ld decodes %s -> %s\n", size, size,
                normal ? "at normal quantiles" : "over the square", out);
    free(z);
    free(img);
    gm_destroy(m);
    clgm_ctx_destroy(ctx);
    return rc;
}

/* ---- clgm encode ---- */

static void encode_help(void)
{
    printf("usage: clgm encode CKPT --data SPEC --out FILE.safetensors [options]\n\n"
           "VAE: writes the posterior means of the images as tensor \"codes\" (N, latent),\n"
           "with \"labels\" (N) when the data has labels, and metadata naming the\n"
           "checkpoint, the model and the data. Read back by clgm decode, or in Python by\n"
           "safetensors.numpy.load_file.\n\n"
           "options:\n"
           "  --data SPEC         images, as for clgm train (required)\n"
           "  -n, --n N           encode the first N images (default all)\n"
           "  -o, --out FILE      output (required)\n"
           "  -d, --device SEL    device (default: $CLGM_DEVICE, else the best GPU, else CPU)\n\n"
           "examples:\n"
           "  clgm encode runs/vae/checkpoint.safetensors --data fashion-mnist:test \\\n"
           "      --out test-codes.safetensors\n"
           "  clgm decode runs/vae/checkpoint.safetensors test-codes.safetensors --out back.png\n");
}

int cmd_encode(int argc, char **argv)
{
    enum { O_DATA = 256 };
    static const struct option opts[] = {
        {"data", required_argument, 0, O_DATA}, {"n", required_argument, 0, 'n'},
        {"out", required_argument, 0, 'o'}, {"device", required_argument, 0, 'd'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *data = NULL, *out = NULL, *device = NULL, *ckpt;
    long n = 0;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "n:o:d:h", opts, NULL)) != -1) {
        switch (c) {
        case O_DATA: data = optarg; break;
        case 'n': if (!cli_parse_long("encode", optarg, "--n", 1, INT32_MAX, &n)) return 2; break;
        case 'o': out = optarg; break;
        case 'd': device = optarg; break;
        case 'h': encode_help(); return 0;
        default: return bad_option("encode", argv);
        }
    }
    int rc = positional("encode", argc, argv, 1, &ckpt);
    if (rc) return rc;
    if (!data) return cli_error("encode", "which images? --data SPEC is required (see clgm encode --help)"), 2;
    if (!out) return cli_error("encode", "--out FILE.safetensors is required"), 2;
    clgm_ctx *ctx = NULL;
    gm_model *m = NULL;
    float *x = NULL, *mu = NULL, *lab = NULL;
    int *labels = NULL, count = (int)n;
    st_writer *w = NULL;
    rc = load_model("encode", device, ckpt, MAX_GEN_BATCH, 1, &ctx, &m);
    if (!rc) rc = load_images("encode", m, data, &count, &x, &labels);
    if (!rc && (!(mu = malloc((size_t)count * m->latent * sizeof *mu)) ||
                (labels && !(lab = malloc((size_t)count * sizeof *lab)))))
        rc = cli_error("encode", "out of host memory");
    clgm_status st = CLGM_OK;
    if (!rc) {
        char num[32];
        int64_t shape[2] = {count, m->latent};
        st = gm_encode(m, x, count, mu);
        if (st == CLGM_OK) st = st_writer_create(ctx, &w);
        if (st == CLGM_OK) st = st_add(w, "codes", 2, shape, mu);
        if (st == CLGM_OK && labels) {
            for (int i = 0; i < count; i++) lab[i] = (float)labels[i];
            st = st_add(w, "labels", 1, shape, lab);
        }
        snprintf(num, sizeof num, "%d", m->latent);
        if (st == CLGM_OK) st = st_set_meta(w, "clgm.checkpoint", ckpt);
        if (st == CLGM_OK) st = st_set_meta(w, "clgm.model", m->name);
        if (st == CLGM_OK) st = st_set_meta(w, "clgm.data", data);
        if (st == CLGM_OK) st = st_set_meta(w, "clgm.latent", num);
        if (st == CLGM_OK) st = st_set_meta(w, "clgm.codes", "posterior mean");
        if (st == CLGM_OK) st = st_write(w, out);
        if (st != CLGM_OK) rc = cli_fail("encode", ctx, st);
    }
    if (!rc)
        fprintf(stderr, "clgm encode: %d codes of size %d%s -> %s\n", count, m->latent,
                labels ? " with labels" : "", out);
    st_writer_free(w);
    free(x);
    free(mu);
    free(lab);
    free(labels);
    gm_destroy(m);
    clgm_ctx_destroy(ctx);
    return rc;
}

/* ---- clgm decode ---- */

static void decode_help(void)
{
    printf("usage: clgm decode CKPT CODES.safetensors --out FILE.png [options]\n\n"
           "Decodes latent codes, the tensor \"codes\" (N, latent) of a safetensors file\n"
           "(clgm encode writes one; any F32/F64 2-D tensor of that name works, or the only\n"
           "tensor of a file), with a VAE decoder or a GAN generator.\n\n"
           "options:\n"
           "  -o, --out FILE      PNG grid (required)\n"
           "  --cols N            grid columns (default ceil(sqrt(N)))\n"
           "  --idx FILE          also write the images as IDX (grey models; .gz: gzipped)\n"
           "  -d, --device SEL    device (default: $CLGM_DEVICE, else the best GPU, else CPU)\n\n"
           "examples:\n"
           "  clgm encode runs/vae/checkpoint.safetensors --data fashion-mnist:test --n 64 \\\n"
           "      --out codes.safetensors\n"
           "  clgm decode runs/vae/checkpoint.safetensors codes.safetensors --out decoded.png\n");
}

int cmd_decode(int argc, char **argv)
{
    enum { O_COLS = 256, O_IDX };
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'}, {"cols", required_argument, 0, O_COLS},
        {"idx", required_argument, 0, O_IDX}, {"device", required_argument, 0, 'd'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = NULL, *idx = NULL, *device = NULL, *args[2];
    long cols = 0;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case O_COLS: if (!cli_parse_long("decode", optarg, "--cols", 1, 100000, &cols)) return 2; break;
        case O_IDX: idx = optarg; break;
        case 'd': device = optarg; break;
        case 'h': decode_help(); return 0;
        default: return bad_option("decode", argv);
        }
    }
    int rc = positional("decode", argc, argv, 2, args);
    if (rc) return rc;
    if (!out) return cli_error("decode", "--out FILE.png is required"), 2;
    clgm_ctx *ctx = NULL;
    gm_model *m = NULL;
    st_file *f = NULL;
    float *img = NULL;
    const st_tensor *t = NULL;
    rc = cli_open("decode", device, &ctx);
    if (!rc) {
        clgm_status st = st_read(ctx, args[1], &f);
        if (st != CLGM_OK) rc = cli_fail("decode", ctx, st);
    }
    if (!rc) {
        t = st_get(f, "codes");
        if (!t && f->n_tensors == 1) t = &f->tensors[0];
        if (!t) rc = cli_error("decode", "%s has no tensor \"codes\" (and more than one tensor)", args[1]);
        else if (t->ndim != 2 || t->shape[0] < 1)
            rc = cli_error("decode", "%s: tensor \"%s\" must be (N, latent), it has %d dimensions",
                           args[1], t->name, t->ndim);
    }
    if (!rc) rc = load_ckpt("decode", ctx, args[0], (int)t->shape[0], 0, &m);
    if (!rc && t->shape[1] != m->latent)
        rc = cli_error("decode", "%s: codes have %" PRId64 " values each, %s takes a latent of %d",
                       args[1], t->shape[1], m->name, m->latent);
    if (!rc && idx && m->img_c != 1)
        rc = cli_error("decode", "--idx holds grey images only; %s makes %d-channel images", m->name,
                       m->img_c);
    int n = t ? (int)t->shape[0] : 0;
    if (!rc && !(img = malloc((size_t)n * pixels_of(m) * sizeof *img)))
        rc = cli_error("decode", "out of host memory");
    if (!rc) {
        clgm_status st = gm_generate(m, t->data, n, 0, 0, img);
        if (st != CLGM_OK) rc = cli_fail("decode", ctx, st);
    }
    if (!rc) rc = write_png("decode", out, m, img, n, (int)cols);
    if (!rc && idx) {
        char err[512];
        if (ds_write_idx(idx, n, m->img_h, m->img_w, img, err, sizeof err) != CLGM_OK)
            rc = cli_error("decode", "%s", err);
    }
    if (!rc) fprintf(stderr, "clgm decode: %d codes -> %s%s%s\n", n, out, idx ? ", " : "", idx ? idx : "");
    free(img);
    st_file_free(f);
    gm_destroy(m);
    clgm_ctx_destroy(ctx);
    return rc;
}

/* ---- clgm inpaint ---- */

/* mask (H*W): 1 where the pixel is known, 0 where it is to be filled. */
static int make_mask(const char *spec, int h, int w, float *mask)
{
    if (!strcmp(spec, "center") || !strcmp(spec, "left") || !strcmp(spec, "top")) {
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int hidden = !strcmp(spec, "left") ? x < w / 2
                           : !strcmp(spec, "top")  ? y < h / 2
                           : (y >= h / 4 && y < h / 4 + h / 2 && x >= w / 4 && x < w / 4 + w / 2);
                mask[y * w + x] = hidden ? 0.0f : 1.0f;
            }
        return 0;
    }
    int iw, ih, comp;
    unsigned char *px = stbi_load(spec, &iw, &ih, &comp, 1);
    if (!px)
        return cli_error("inpaint", "--mask '%s' is not center, left, top or a readable image: %s", spec,
                         stbi_failure_reason());
    int rc = 0;
    if (iw != w || ih != h)
        rc = cli_error("inpaint", "mask %s is %dx%d; the model's images are %dx%d", spec, iw, ih, w, h);
    for (int i = 0; !rc && i < h * w; i++) mask[i] = px[i] >= 128 ? 1.0f : 0.0f;
    stbi_image_free(px);
    return rc;
}

static void inpaint_help(void)
{
    printf("usage: clgm inpaint CKPT --data SPEC --mask MASK --out FILE.png [options]\n\n"
           "VAE: fills the hidden part of images by iterating x <- mask*x0 + (1-mask)*\n"
           "decode(encode(x)), the known pixels kept, the hidden ones starting at grey 0.5.\n"
           "Rows of the PNG: originals, masked inputs (hidden pixels grey), filled images.\n\n"
           "options:\n"
           "  --data SPEC         images, as for clgm train (required)\n"
           "  --mask MASK         center (middle half hidden), left (left half), top (top\n"
           "                      half), or a PNG of the image size: white known, black hidden\n"
           "  -n, --n N           the first N images (default 16)\n"
           "  --iters N           encode/decode rounds (default 20)\n"
           "  --cols N            images per row (default 16)\n"
           "  -o, --out FILE      PNG (required)\n"
           "  -d, --device SEL    device (default: $CLGM_DEVICE, else the best GPU, else CPU)\n\n"
           "examples:\n"
           "  clgm inpaint runs/vae/checkpoint.safetensors --data fashion-mnist:test \\\n"
           "      --mask center --out inpaint.png\n"
           "  clgm inpaint runs/vae/checkpoint.safetensors --data fashion-mnist:test \\\n"
           "      --mask my-mask.png --n 8 --iters 50 --out inpaint-custom.png\n");
}

int cmd_inpaint(int argc, char **argv)
{
    enum { O_DATA = 256, O_MASK, O_ITERS, O_COLS };
    static const struct option opts[] = {
        {"data", required_argument, 0, O_DATA}, {"mask", required_argument, 0, O_MASK},
        {"n", required_argument, 0, 'n'}, {"iters", required_argument, 0, O_ITERS},
        {"cols", required_argument, 0, O_COLS}, {"out", required_argument, 0, 'o'},
        {"device", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *data = NULL, *mask_spec = NULL, *out = NULL, *device = NULL, *ckpt;
    long n = 16, iters = 20, cols = 16;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "n:o:d:h", opts, NULL)) != -1) {
        switch (c) {
        case O_DATA: data = optarg; break;
        case O_MASK: mask_spec = optarg; break;
        case 'n': if (!cli_parse_long("inpaint", optarg, "--n", 1, 100000, &n)) return 2; break;
        case O_ITERS: if (!cli_parse_long("inpaint", optarg, "--iters", 1, 100000, &iters)) return 2; break;
        case O_COLS: if (!cli_parse_long("inpaint", optarg, "--cols", 1, 10000, &cols)) return 2; break;
        case 'o': out = optarg; break;
        case 'd': device = optarg; break;
        case 'h': inpaint_help(); return 0;
        default: return bad_option("inpaint", argv);
        }
    }
    int rc = positional("inpaint", argc, argv, 1, &ckpt);
    if (rc) return rc;
    if (!data) return cli_error("inpaint", "which images? --data SPEC is required (see clgm inpaint --help)"), 2;
    if (!mask_spec) return cli_error("inpaint", "--mask center|left|top|FILE.png is required"), 2;
    if (!out) return cli_error("inpaint", "--out FILE.png is required"), 2;
    if (cols > n) cols = n;
    clgm_ctx *ctx = NULL;
    gm_model *m = NULL;
    float *x0 = NULL, *masked = NULL, *x = NULL, *mu = NULL, *recon = NULL, *mask = NULL,
          *tiles = NULL;
    int count = (int)n;
    rc = load_model("inpaint", device, ckpt, count, 1, &ctx, &m);
    if (!rc) rc = load_images("inpaint", m, data, &count, &x0, NULL);
    size_t pix = m ? pixels_of(m) : 0, plane = m ? (size_t)m->img_h * m->img_w : 0;
    if (!rc) {
        size_t bands = (size_t)(count + cols - 1) / cols;
        masked = malloc((size_t)count * pix * sizeof(float));
        x = malloc((size_t)count * pix * sizeof(float));
        recon = malloc((size_t)count * pix * sizeof(float));
        mu = malloc((size_t)count * m->latent * sizeof(float));
        mask = malloc(plane * sizeof(float));
        tiles = malloc(bands * 3 * cols * pix * sizeof(float));
        if (!masked || !x || !recon || !mu || !mask || !tiles) rc = cli_error("inpaint", "out of host memory");
    }
    if (!rc) rc = make_mask(mask_spec, m->img_h, m->img_w, mask);
    if (!rc) {
        /* The mask is per pixel, shared by the channels. */
        for (size_t i = 0; i < (size_t)count * pix; i++) {
            float k = mask[i % plane];
            masked[i] = k * x0[i] + (1 - k) * 0.5f;
        }
        memcpy(x, masked, (size_t)count * pix * sizeof(float));
        clgm_status st = CLGM_OK;
        for (int it = 0; it < iters && st == CLGM_OK; it++) {
            st = reconstruct(m, x, count, mu, recon);
            for (size_t i = 0; st == CLGM_OK && i < (size_t)count * pix; i++) {
                float k = mask[i % plane];
                x[i] = k * x0[i] + (1 - k) * recon[i];
            }
        }
        if (st != CLGM_OK) rc = cli_fail("inpaint", ctx, st);
    }
    if (!rc) {
        const float *sets[3] = {x0, masked, x};
        int t = interleave(sets, 3, count, (int)cols, pix, 0, tiles);
        rc = write_png("inpaint", out, m, tiles, t, (int)cols);
    }
    if (!rc) {
        /* Error on the hidden pixels only: what the filling is judged by. */
        double se = 0, hidden = 0;
        for (size_t i = 0; i < (size_t)count * pix; i++) {
            float k = mask[i % plane];
            se += (1 - k) * (double)(x[i] - x0[i]) * (x[i] - x0[i]);
            hidden += 1 - k;
        }
        fprintf(stderr, "clgm inpaint: %d images, %ld rounds, MSE on hidden pixels %.5f -> %s\n", count,
                iters, hidden > 0 ? se / hidden : 0.0, out);
    }
    free(x0);
    free(masked);
    free(x);
    free(recon);
    free(mu);
    free(mask);
    free(tiles);
    gm_destroy(m);
    clgm_ctx_destroy(ctx);
    return rc;
}
