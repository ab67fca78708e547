/* Device selection forms over synthetic device lists (no OpenCL needed). */
#include <string.h>

#include "test_util.h"

static clgm_device_info dev(int idx, int p, int d, clgm_device_type t,
                            const char *plat, const char *vendor, const char *name,
                            unsigned cu, unsigned mhz)
{
    clgm_device_info i;
    memset(&i, 0, sizeof i);
    i.index = idx; i.platform_index = p; i.device_index = d; i.type = t;
    strcpy(i.platform_name, plat); strcpy(i.vendor, vendor); strcpy(i.name, name);
    i.compute_units = cu; i.clock_mhz = mhz;
    return i;
}

static int pick(const clgm_device_info *l, int n, const char *sel, char *err)
{
    int idx = -99;
    clgm_status st = clgm_device_pick(l, n, sel, &idx, err, 1024);
    return st == CLGM_OK ? idx : -1;
}

int main(void)
{
    clgm_device_info l[4];
    l[0] = dev(0, 0, 0, CLGM_DEVICE_CPU, "Portable Computing Language", "AuthenticAMD", "pthread-zen4", 16, 3000);
    l[1] = dev(1, 1, 0, CLGM_DEVICE_GPU, "Intel(R) OpenCL Graphics", "Intel(R) Corporation", "Intel(R) UHD Graphics 770", 32, 1450);
    l[2] = dev(2, 2, 0, CLGM_DEVICE_GPU, "NVIDIA CUDA", "NVIDIA Corporation", "NVIDIA GeForce RTX 4090", 128, 2520);
    l[3] = dev(3, 2, 1, CLGM_DEVICE_GPU, "NVIDIA CUDA", "NVIDIA Corporation", "NVIDIA GeForce GTX 1050", 5, 1455);
    char err[1024];

    TU_CHECK(pick(l, 4, NULL, err) == 2, "default should be the strongest GPU");
    TU_CHECK(pick(l, 4, "", err) == 2, "empty selector is the default");
    TU_CHECK(pick(l, 1, NULL, err) == 0, "CPU when there is no GPU");
    TU_CHECK(pick(l, 4, "0", err) == 0, "flat index 0");
    TU_CHECK(pick(l, 4, "3", err) == 3, "flat index 3");
    TU_CHECK(pick(l, 4, "2:1", err) == 3, "P:D 2:1");
    TU_CHECK(pick(l, 4, "1:0", err) == 1, "P:D 1:0");
    TU_CHECK(pick(l, 4, "cpu", err) == 0, "type cpu");
    TU_CHECK(pick(l, 4, "GPU", err) == 2, "type gpu, case-insensitive, best of type");
    TU_CHECK(pick(l, 4, "nvidia", err) == 2, "vendor substring");
    TU_CHECK(pick(l, 4, "1050", err) == 3, "device name substring");
    TU_CHECK(pick(l, 4, "PThread", err) == 0, "case-insensitive name substring");
    TU_CHECK(pick(l, 4, "portable", err) == 0, "platform substring");
    TU_CHECK(pick(l, 4, "intel", err) == 1, "vendor substring intel");

    TU_CHECK(pick(l, 4, "accel", err) == -1, "no accelerator in the list");
    TU_CHECK(pick(l, 4, "8", err) == -1, "index out of range that names nothing");
    TU_CHECK(pick(l, 4, "3:0", err) == -1, "unknown P:D");
    TU_CHECK(pick(l, 4, "nonexistent", err) == -1, "unknown name");
    TU_CHECK(strstr(err, "nonexistent") && strstr(err, "RTX 4090") && strstr(err, "pthread-zen4"),
             "error names the selector and lists devices: %s", err);
    TU_CHECK(strchr(err, '\n') == NULL, "error is one line: %s", err);
    int idx;
    TU_CHECK(clgm_device_pick(l, 0, NULL, &idx, err, sizeof err) == CLGM_ERR_NO_PLATFORM,
             "empty list is 'no platform'");
    TU_CHECK(clgm_device_default(l, 0) == -1, "no default in an empty list");
    return tu_finish("test_device_select");
}
