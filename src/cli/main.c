/* clgm: the command-line front end. Dispatches to one file per subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command COMMANDS[] = {
    {"train", cmd_train, "train a GAN or VAE; writes checkpoints, samples, metrics, report"},
    {"sample", cmd_sample, "generate images from a checkpoint as a PNG grid (and IDX)"},
    {"interpolate", cmd_interpolate, "rows of linear or slerp walks between random latent codes"},
    {"reconstruct", cmd_reconstruct, "VAE: originals above their reconstructions"},
    {"manifold", cmd_manifold, "VAE with a 2-D latent: grid of decodes over the latent plane"},
    {"encode", cmd_encode, "VAE: posterior means of images -> codes.safetensors"},
    {"decode", cmd_decode, "decode latent codes from a safetensors file into images"},
    {"inpaint", cmd_inpaint, "VAE: fill masked image regions by iterated encode/decode"},
    {"info", cmd_info, "what a checkpoint holds: model, layers, parameters, training state"},
    {"eval", cmd_eval, "sample quality (FCD, IS, precision/recall) and VAE likelihood"},
    {"classifier", cmd_classifier, "train / evaluate the feature network used by clgm eval"},
    {"devices", cmd_devices, "list OpenCL devices; --build compiles every kernel program"},
    {"selftest", cmd_selftest, "run the basic kernels on a device and check them against C"},
    {"bench", cmd_bench, "training images/s, kernel breakdown, start-up, memory, GEMM GFLOPS"},
    {"tune", cmd_tune, "measure GEMM and kernel work-group variants, store the fastest"},
};

static void usage(FILE *f)
{
    fprintf(f,
            "clgm %s: generative image models on any OpenCL device\n\n"
            "usage: clgm <command> [options]   (clgm <command> --help for details)\n\n"
            "commands:\n", CLGM_VERSION);
    for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++)
        fprintf(f, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f,
            "\nenvironment:\n"
            "  CLGM_DEVICE      device selector when --device is not given\n"
            "  CLGM_CACHE_DIR   program binary cache (default ~/.cache/clgm; 'off' disables)\n"
            "  CLGM_KERNEL_DIR  load .cl sources from this folder instead of the embedded ones\n"
            "  CLGM_PROFILE=1   print per-kernel times at exit (=shapes: per kernel and\n"
            "                   launch size)\n"
            "  CLGM_CLASSIFIER  feature network of clgm eval (default: the Fashion-MNIST one)\n"
            "  CLGM_GEMM, CLGM_GEMM_PARAMS, CLGM_KERNEL_PARAMS  override the tuned kernel\n"
            "                   choices (see clgm tune --help and the README)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("clgm %s\n", CLGM_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "clgm: unknown command '%s' (run 'clgm --help' for the list)\n", argv[1]);
    return 2;
}
