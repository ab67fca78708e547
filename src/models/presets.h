/* Model presets: JSON files under src/models/presets, embedded at build time. */
#ifndef CLGM_MODELS_PRESETS_H
#define CLGM_MODELS_PRESETS_H

#include <stddef.h>

typedef struct clgm_embedded_file {
    const char *name;   /* file name without extension: "dcgan" */
    const char *file;   /* "dcgan.json" */
    const unsigned char *data; /* NUL-terminated */
    size_t length;
} clgm_embedded_file;

extern const clgm_embedded_file clgm_presets[];
extern const int clgm_presets_count;

/* The JSON text of a preset, or NULL when there is none of that name. */
const char *clgm_preset_json(const char *name);

#endif
