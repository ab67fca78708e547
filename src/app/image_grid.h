/* Tiles a batch of images into one PNG (samples, reconstructions). */
#ifndef CLGM_APP_IMAGE_GRID_H
#define CLGM_APP_IMAGE_GRID_H

#include <stddef.h>

#include "clgm/clgm.h"

/* Grey level (0..255) of the padding between and around the tiles. */
#define GRID_PAD_VALUE 96

/* Writes images (n,c,h,w) as a PNG grid: values mapped linearly from [lo,hi]
 * to 0..255 (rounded, clamped; NaN -> 0); c = 1 (grey), 3 (RGB) or 4 (RGBA).
 * cols <= 0 picks ceil(sqrt(n)); pad pixels of GRID_PAD_VALUE separate the
 * tiles and frame the grid. Size: cols*(w+pad)+pad by rows*(h+pad)+pad.
 * Written atomically (temp file + rename); err gets one line on failure. */
clgm_status grid_write_png(const char *path, const float *images, int n, int c, int h, int w,
                           float lo, float hi, int cols, int pad, char *err, size_t errlen);

/* The same grid as 8-bit pixels (H,W,c) in a malloc'd buffer; NULL when out
 * of memory or the arguments are invalid. */
unsigned char *grid_render(const float *images, int n, int c, int h, int w, float lo,
                           float hi, int cols, int pad, int *out_w, int *out_h);

#endif
