/* clgm sample and clgm interpolate: images from a checkpoint's generator
 * (GAN generator or VAE decoder) as a PNG grid, optionally also as IDX. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/dataset.h"
#include "app/image_grid.h"
#include "cli/cli.h"
#include "models/gm.h"

/* Most images generated per launch: bounds the model's activation memory. */
#define MAX_GEN_BATCH 256

static int bad_option(const char *cmd, char **argv)
{
    return cli_error(cmd, "unknown or incomplete option '%s' (see clgm %s --help)",
                     argv[optind - 1], cmd), 2;
}

static int load_model(const char *cmd, const char *device, const char *ckpt, int n,
                      clgm_ctx **ctx, gm_model **m)
{
    int rc = cli_open(cmd, device, ctx);
    if (rc) return rc;
    int batch = n < MAX_GEN_BATCH ? n : MAX_GEN_BATCH;
    clgm_status st = gm_load(*ctx, ckpt, batch, m);
    return st == CLGM_OK ? 0 : cli_fail(cmd, *ctx, st);
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

/* One PNG per image, DIR/000000.png on: the form `clgm eval --samples DIR`
 * and `clgm train --data DIR` read for any channel count and size. */
static int write_png_dir(const char *cmd, const char *dir, const gm_model *m, const float *img,
                         int n)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return cli_error(cmd, "cannot create folder %s: %s", dir, strerror(errno));
    size_t pixels = (size_t)m->img_c * m->img_h * m->img_w;
    for (int i = 0; i < n; i++) {
        char path[4096], err[512];
        snprintf(path, sizeof path, "%s/%06d.png", dir, i);
        if (grid_write_png(path, img + (size_t)i * pixels, 1, m->img_c, m->img_h, m->img_w, 0, 1,
                           1, 0, err, sizeof err) != CLGM_OK)
            return cli_error(cmd, "%s", err);
    }
    return 0;
}

/* ---- clgm sample ---- */

static void sample_help(void)
{
    printf("usage: clgm sample CKPT [options]\n\n"
           "Draws images from a checkpoint (GAN or VAE) with latent codes z ~ N(0, I) and\n"
           "writes them as a PNG grid; --idx also writes them as an IDX image file (grey\n"
           "models) and --png-dir as one PNG per image (any model), both of which other\n"
           "tools, `clgm eval --samples` and `clgm train --data` read.\n\n"
           "options:\n"
           "  -n, --n N           number of images (default 64)\n"
           "  --seed N            noise seed (default 0; same seed, same images)\n"
           "  --cols N            grid columns (default ceil(sqrt(n)))\n"
           "  -o, --out FILE      PNG grid (default samples.png)\n"
           "  --idx FILE          also write the images as IDX (gzipped when FILE ends in .gz)\n"
           "  --png-dir DIR       also write each image as DIR/NNNNNN.png (DIR is created)\n"
           "  -d, --device SEL    device (default: $CLGM_DEVICE, else the best GPU, else CPU)\n\n"
           "examples:\n"
           "  clgm sample runs/dcgan/checkpoint.safetensors --out dcgan.png\n"
           "  clgm sample runs/vae/checkpoint.safetensors --n 10000 --seed 7 \\\n"
           "      --out vae.png --idx vae-images-idx3-ubyte.gz\n");
}

int cmd_sample(int argc, char **argv)
{
    enum { O_SEED = 256, O_COLS, O_IDX, O_PNG_DIR };
    static const struct option opts[] = {
        {"n", required_argument, 0, 'n'}, {"seed", required_argument, 0, O_SEED},
        {"cols", required_argument, 0, O_COLS}, {"out", required_argument, 0, 'o'},
        {"idx", required_argument, 0, O_IDX}, {"png-dir", required_argument, 0, O_PNG_DIR},
        {"device", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = "samples.png", *idx = NULL, *png_dir = NULL, *device = NULL;
    long n = 64, cols = 0, seed = 0;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "n:o:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': if (!cli_parse_long("sample", optarg, "--n", 1, 1000000, &n)) return 2; break;
        case O_SEED: if (!cli_parse_long("sample", optarg, "--seed", 0, LONG_MAX, &seed)) return 2; break;
        case O_COLS: if (!cli_parse_long("sample", optarg, "--cols", 1, 100000, &cols)) return 2; break;
        case 'o': out = optarg; break;
        case O_IDX: idx = optarg; break;
        case O_PNG_DIR: png_dir = optarg; break;
        case 'd': device = optarg; break;
        case 'h': sample_help(); return 0;
        default: return bad_option("sample", argv);
        }
    }
    if (optind >= argc)
        return cli_error("sample", "which checkpoint? e.g. clgm sample runs/dcgan/checkpoint.safetensors"), 2;
    const char *ckpt = argv[optind++];
    if (optind < argc)
        return cli_error("sample", "unexpected argument '%s' (see clgm sample --help)", argv[optind]), 2;

    clgm_ctx *ctx = NULL;
    gm_model *m = NULL;
    float *img = NULL;
    int rc = load_model("sample", device, ckpt, (int)n, &ctx, &m);
    if (!rc && idx && m->img_c != 1)
        rc = cli_error("sample", "--idx holds grey images only; %s makes %d-channel images", m->name,
                       m->img_c);
    if (!rc) {
        size_t pixels = (size_t)m->img_c * m->img_h * m->img_w;
        img = malloc((size_t)n * pixels * sizeof *img);
        if (!img) rc = cli_error("sample", "out of host memory for %ld images", n);
    }
    if (!rc) {
        clgm_status st = gm_generate(m, NULL, (int)n, (uint64_t)seed, 0, img);
        if (st != CLGM_OK) rc = cli_fail("sample", ctx, st);
    }
    if (!rc) rc = write_png("sample", out, m, img, (int)n, (int)cols);
    if (!rc && idx) {
        char err[512];
        if (ds_write_idx(idx, (int)n, m->img_h, m->img_w, img, err, sizeof err) != CLGM_OK)
            rc = cli_error("sample", "%s", err);
    }
    if (!rc && png_dir) rc = write_png_dir("sample", png_dir, m, img, (int)n);
    if (!rc)
        fprintf(stderr, "clgm sample: %ld images from %s (%s) -> %s%s%s%s%s\n", n, ckpt, m->name,
                out, idx ? ", " : "", idx ? idx : "", png_dir ? ", " : "",
                png_dir ? png_dir : "");
    free(img);
    gm_destroy(m);
    clgm_ctx_destroy(ctx);
    return rc;
}

/* ---- clgm interpolate ---- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* N(0,1) by Box-Muller from 53-bit uniforms in (0,1]. */
static void host_normal(uint64_t seed, size_t n, float *out)
{
    uint64_t s = seed ^ 0x1e7e5a11ULL;
    for (size_t i = 0; i < n; i += 2) {
        double u1 = ((splitmix64(&s) >> 11) + 1.0) / 9007199254740992.0;
        double u2 = (splitmix64(&s) >> 11) / 9007199254740992.0;
        double r = sqrt(-2.0 * log(u1)), t = 6.283185307179586 * u2;
        out[i] = (float)(r * cos(t));
        if (i + 1 < n) out[i + 1] = (float)(r * sin(t));
    }
}

/* z = (1-t) a + t b, or spherical: keeps the norm typical of a Gaussian
 * sample along the path instead of shrinking it in the middle. */
static void mix(const float *a, const float *b, int L, double t, int slerp, float *z)
{
    double w0 = 1 - t, w1 = t;
    if (slerp) {
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < L; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i],
                                     bb += (double)b[i] * b[i];
        double cosw = ab / (sqrt(aa * bb) + 1e-30);
        double omega = acos(cosw < -1 ? -1 : cosw > 1 ? 1 : cosw), so = sin(omega);
        if (so > 1e-6) w0 = sin((1 - t) * omega) / so, w1 = sin(t * omega) / so;
    }
    for (int i = 0; i < L; i++) z[i] = (float)(w0 * a[i] + w1 * b[i]);
}

static void interp_help(void)
{
    printf("usage: clgm interpolate CKPT [options]\n\n"
           "Each row of the PNG walks the latent space between two random codes\n"
           "z0, z1 ~ N(0, I): column j decodes (1-t) z0 + t z1 with t = j/(steps-1), or the\n"
           "spherical interpolation with --slerp.\n\n"
           "options:\n"
           "  --rows N            number of code pairs (default 8)\n"
           "  --steps N           images per row, ends included (default 10, at least 2)\n"
           "  --slerp             spherical instead of linear interpolation\n"
           "  --seed N            seed of the codes (default 0)\n"
           "  -o, --out FILE      PNG (default interp.png)\n"
           "  -d, --device SEL    device (default: $CLGM_DEVICE, else the best GPU, else CPU)\n\n"
           "examples:\n"
           "  clgm interpolate runs/dcgan/checkpoint.safetensors\n"
           "  clgm interpolate runs/vae/checkpoint.safetensors --rows 4 --steps 16 --slerp \\\n"
           "      --seed 3 --out vae-slerp.png\n");
}

int cmd_interpolate(int argc, char **argv)
{
    enum { O_ROWS = 256, O_STEPS, O_SLERP, O_SEED };
    static const struct option opts[] = {
        {"rows", required_argument, 0, O_ROWS}, {"steps", required_argument, 0, O_STEPS},
        {"slerp", no_argument, 0, O_SLERP}, {"seed", required_argument, 0, O_SEED},
        {"out", required_argument, 0, 'o'}, {"device", required_argument, 0, 'd'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = "interp.png", *device = NULL;
    long rows = 8, steps = 10, seed = 0;
    int slerp = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:d:h", opts, NULL)) != -1) {
        switch (c) {
        case O_ROWS: if (!cli_parse_long("interpolate", optarg, "--rows", 1, 1000, &rows)) return 2; break;
        case O_STEPS: if (!cli_parse_long("interpolate", optarg, "--steps", 2, 1000, &steps)) return 2; break;
        case O_SLERP: slerp = 1; break;
        case O_SEED: if (!cli_parse_long("interpolate", optarg, "--seed", 0, LONG_MAX, &seed)) return 2; break;
        case 'o': out = optarg; break;
        case 'd': device = optarg; break;
        case 'h': interp_help(); return 0;
        default: return bad_option("interpolate", argv);
        }
    }
    if (optind >= argc)
        return cli_error("interpolate", "which checkpoint? e.g. clgm interpolate runs/dcgan/checkpoint.safetensors"), 2;
    const char *ckpt = argv[optind++];
    if (optind < argc)
        return cli_error("interpolate", "unexpected argument '%s' (see clgm interpolate --help)",
                         argv[optind]), 2;

    int n = (int)(rows * steps);
    clgm_ctx *ctx = NULL;
    gm_model *m = NULL;
    float *ends = NULL, *z = NULL, *img = NULL;
    int rc = load_model("interpolate", device, ckpt, n, &ctx, &m);
    if (!rc) {
        int L = m->latent;
        ends = malloc((size_t)rows * 2 * L * sizeof *ends);
        z = malloc((size_t)n * L * sizeof *z);
        img = malloc((size_t)n * m->img_c * m->img_h * m->img_w * sizeof *img);
        if (!ends || !z || !img) rc = cli_error("interpolate", "out of host memory");
    }
    if (!rc) {
        int L = m->latent;
        host_normal((uint64_t)seed, (size_t)rows * 2 * L, ends);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < steps; j++)
                mix(ends + (size_t)2 * r * L, ends + (size_t)(2 * r + 1) * L, L,
                    (double)j / (double)(steps - 1), slerp, z + ((size_t)r * steps + j) * L);
        clgm_status st = gm_generate(m, z, n, 0, 0, img);
        if (st != CLGM_OK) rc = cli_fail("interpolate", ctx, st);
    }
    if (!rc) rc = write_png("interpolate", out, m, img, n, (int)steps);
    if (!rc)
        fprintf(stderr, "clgm interpolate: %ld rows of %ld (%s) -> %s\n", rows, steps,
                slerp ? "slerp" : "linear", out);
    free(ends);
    free(z);
    free(img);
    gm_destroy(m);
    clgm_ctx_destroy(ctx);
    return rc;
}
