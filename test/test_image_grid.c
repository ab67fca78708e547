/* PNG grids: written, decoded back with stb_image, every pixel checked
 * (tile placement, padding, value mapping, clamping, channels), and
 * unwritable paths give a clear error and leave no temp file. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb/stb_image.h>

#include "app/image_grid.h"
#include "test_util.h"

static char dir[64];

/* The mapping spelled as the grid code does in float, so values that sit on
 * a rounding boundary agree too; round(x) = floor(x + 0.5). */
static int expected_byte(float v, float lo, float hi)
{
    float scale = 255.0f / (hi - lo);
    float t = (v - lo) * scale + 0.5f;
    if (!(t > 0)) return 0;
    if (t >= 255) return 255;
    return (int)t;
}

/* Checks the decoded grid against the images, pixel by pixel. */
static void check_grid(const char *what, const unsigned char *px, int gw, int gh,
                       const float *img, int n, int c, int h, int w, float lo, float hi,
                       int cols, int pad)
{
    int bad = 0, first_x = -1, first_y = -1;
    for (int y = 0; y < gh; y++)
        for (int x = 0; x < gw; x++) {
            int tx = (x - pad) / (w + pad), ty = (y - pad) / (h + pad);
            int ix = (x - pad) % (w + pad), iy = (y - pad) % (h + pad);
            int k = ty * cols + tx;
            int inside = x >= pad && y >= pad && ix < w && iy < h && tx < cols && k < n;
            for (int ch = 0; ch < c; ch++) {
                int want = inside ? expected_byte(img[((size_t)k * c + ch) * h * w + iy * w + ix],
                                                  lo, hi)
                                  : (c == 4 && ch == 3 ? 255 : GRID_PAD_VALUE);
                int got = px[((size_t)y * gw + x) * c + ch];
                if (got != want) {
                    if (!bad) first_x = x, first_y = y;
                    bad++;
                }
            }
        }
    TU_CHECK(bad == 0, "%s: %d wrong pixel values, first at (%d,%d)", what, bad, first_x,
             first_y);
}

static void round_trip(int n, int c, int h, int w, float lo, float hi, int cols, int pad,
                       int want_cols)
{
    char path[128], what[160];
    snprintf(path, sizeof path, "%s/grid_%d_%d_%d_%d.png", dir, n, c, h, w);
    snprintf(what, sizeof what, "n=%d c=%d %dx%d cols=%d pad=%d", n, c, h, w, cols, pad);
    size_t total = (size_t)n * c * h * w;
    float *img = malloc(total * sizeof *img);
    uint64_t seed = (uint64_t)(n * 131 + c * 17 + h);
    /* A margin outside [lo,hi] exercises clamping. */
    float span = hi - lo;
    tu_rand_fill(img, total, lo - 0.2f * span, hi + 0.2f * span, &seed);
    img[0] = lo;
    if (total > 1) img[1] = hi;
    if (total > 2) img[2] = NAN; /* written as 0 */
    char err[512];
    clgm_status st = grid_write_png(path, img, n, c, h, w, lo, hi, cols, pad, err, sizeof err);
    TU_CHECK(st == CLGM_OK, "%s: %s", what, err);
    int gw = 0, gh = 0, comp = 0;
    unsigned char *px = stbi_load(path, &gw, &gh, &comp, 0);
    TU_CHECK(px != NULL, "%s: decode %s: %s", what, path, stbi_failure_reason());
    if (px) {
        int rows = (n + want_cols - 1) / want_cols;
        int ew = want_cols * (w + pad) + pad, eh = rows * (h + pad) + pad;
        TU_CHECK(gw == ew && gh == eh && comp == c, "%s: size %dx%dx%d, want %dx%dx%d", what,
                 gw, gh, comp, ew, eh, c);
        if (gw == ew && gh == eh && comp == c) {
            check_grid(what, px, gw, gh, img, n, c, h, w, lo, hi, want_cols, pad);
            TU_CHECK(px[((size_t)pad * gw + pad) * c] == 0 &&
                     (c == 1 || w < 2 || px[((size_t)pad * gw + pad + 1) * c] == 255),
                     "%s: lo -> 0 and hi -> 255", what);
        }
        stbi_image_free(px);
    }
    free(img);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/clgm_test_grid_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    round_trip(5, 3, 4, 3, -1.0f, 1.0f, 3, 2, 3);   /* RGB, an empty last slot */
    round_trip(5, 1, 7, 5, 0.0f, 1.0f, 0, 1, 3);    /* auto cols = ceil(sqrt(5)) */
    round_trip(16, 1, 28, 28, -1.0f, 1.0f, 0, 2, 4); /* a typical sample grid */
    round_trip(3, 4, 2, 2, 0.0f, 1.0f, 8, 0, 3);    /* RGBA, no padding, cols > n */
    round_trip(1, 3, 9, 11, -2.0f, 3.0f, 1, 3, 1);

    char err[512];
    float img[4] = {0};
    clgm_status st = grid_write_png("/nonexistent-dir/samples.png", img, 1, 1, 2, 2, 0, 1, 0, 1,
                                    err, sizeof err);
    TU_CHECK(st == CLGM_ERR_IO && strstr(err, "/nonexistent-dir/samples.png") &&
             strstr(err, "cannot write") && !strchr(err, '\n'), "unwritable folder: %s", err);
    st = grid_write_png("/tmp/x.png", img, 1, 2, 2, 2, 0, 1, 0, 1, err, sizeof err);
    TU_CHECK(st == CLGM_ERR_INVALID_ARG && strstr(err, "c of 1, 3 or 4"), "c=2: %s", err);
    st = grid_write_png("/tmp/x.png", img, 1, 1, 2, 2, 1, 1, 0, 1, err, sizeof err);
    TU_CHECK(st == CLGM_ERR_INVALID_ARG, "hi == lo is invalid");

    /* Atomic writes leave no temp files behind. */
    DIR *d = opendir(dir);
    int temps = 0, files = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        files++;
        temps += strstr(e->d_name, ".tmp") != NULL;
    }
    if (d) closedir(d);
    TU_CHECK(files == 5 && temps == 0, "%d files, %d temp files in %s", files, temps, dir);

    if (!tu_failures) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    return tu_finish("test_image_grid");
}
