/* PNG grids of images via stb_image_write (implementation in Debian's libstb). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb/stb_image_write.h>

#include "app/image_grid.h"

static int grid_cols(int n, int cols)
{
    if (cols > 0) return cols < n ? cols : n;
    int c = (int)ceil(sqrt((double)n));
    while (c * c < n) c++; /* guard against sqrt rounding */
    return c;
}

unsigned char *grid_render(const float *images, int n, int c, int h, int w, float lo,
                           float hi, int cols, int pad, int *out_w, int *out_h)
{
    if (n <= 0 || h <= 0 || w <= 0 || pad < 0 || (c != 1 && c != 3 && c != 4) || !(hi > lo))
        return NULL;
    cols = grid_cols(n, cols);
    int rows = (n + cols - 1) / cols;
    long long gw = (long long)cols * (w + pad) + pad, gh = (long long)rows * (h + pad) + pad;
    if (gw > 1 << 15 || gh > 1 << 15) return NULL; /* beyond what viewers open */
    unsigned char *px = malloc((size_t)gw * gh * c);
    if (!px) return NULL;
    memset(px, GRID_PAD_VALUE, (size_t)gw * gh * c);
    if (c == 4) /* opaque padding */
        for (size_t i = 3; i < (size_t)gw * gh * 4; i += 4) px[i] = 255;
    float scale = 255.0f / (hi - lo);
    for (int k = 0; k < n; k++) {
        int x0 = pad + (k % cols) * (w + pad), y0 = pad + (k / cols) * (h + pad);
        const float *img = images + (size_t)k * c * h * w; // (c,h,w)
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++) {
                unsigned char *row = px + ((size_t)(y0 + y) * gw + x0) * c + ch;
                const float *src = img + ((size_t)ch * h + y) * w;
                for (int x = 0; x < w; x++) {
                    float v = (src[x] - lo) * scale + 0.5f;
                    v = v > 0.0f ? (v < 255.0f ? v : 255.0f) : 0.0f; /* NaN -> 0 */
                    row[(size_t)x * c] = (unsigned char)v;
                }
            }
    }
    *out_w = (int)gw;
    *out_h = (int)gh;
    return px;
}

static void write_to_file(void *ctx, void *data, int size)
{
    FILE *f = ctx;
    fwrite(data, 1, (size_t)size, f);
}

clgm_status grid_write_png(const char *path, const float *images, int n, int c, int h, int w,
                           float lo, float hi, int cols, int pad, char *err, size_t errlen)
{
    if (n <= 0 || h <= 0 || w <= 0 || pad < 0 || (c != 1 && c != 3 && c != 4) || !(hi > lo)) {
        snprintf(err, errlen, "%s: cannot make a grid of %d images %dx%dx%d (pad %d, range "
                 "[%g,%g]); need n,h,w > 0, c of 1, 3 or 4, hi > lo", path, n, c, h, w, pad,
                 (double)lo, (double)hi);
        return CLGM_ERR_INVALID_ARG;
    }
    int gw = 0, gh = 0;
    unsigned char *px = grid_render(images, n, c, h, w, lo, hi, cols, pad, &gw, &gh);
    if (!px) {
        snprintf(err, errlen, "%s: cannot render a grid of %d images of %dx%d (out of memory "
                 "or wider than 32768 pixels)", path, n, h, w);
        return CLGM_ERR_OUT_OF_MEMORY;
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp) {
        free(px);
        snprintf(err, errlen, "%s: out of memory", path);
        return CLGM_ERR_OUT_OF_MEMORY;
    }
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        free(px);
        free(tmp);
        return CLGM_ERR_IO;
    }
    int ok = stbi_write_png_to_func(write_to_file, f, gw, gh, c, px, gw * c) != 0;
    ok = !ferror(f) && ok;
    int e = errno;
    if (fclose(f) != 0) {
        ok = 0;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        e = errno;
    }
    free(px);
    if (!ok) {
        unlink(tmp);
        snprintf(err, errlen, "%s: write failed: %s", path, e ? strerror(e) : "PNG encoder error");
        free(tmp);
        return CLGM_ERR_IO;
    }
    free(tmp);
    return CLGM_OK;
}
