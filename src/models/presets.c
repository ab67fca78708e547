/* Lookup of the embedded model presets. */
#include <string.h>

#include "models/presets.h"

const char *clgm_preset_json(const char *name)
{
    for (int i = 0; i < clgm_presets_count; i++)
        if (!strcmp(clgm_presets[i].name, name)) return (const char *)clgm_presets[i].data;
    return NULL;
}
