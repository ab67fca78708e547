/* clgm info: what a checkpoint holds (model, networks, training state,
 * metadata), or with --json its configuration. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "app/safetensors.h"
#include "cli/cli.h"
#include "models/gm.h"

static void info_help(void)
{
    printf("usage: clgm info CKPT [options]\n\n"
           "Prints the model of a checkpoint: name, family, image shape, latent size, each\n"
           "network's layers and parameter counts, optimizers, training step and epoch,\n"
           "and the file's metadata. --json prints the configuration (the preset with the\n"
           "training overrides applied), which clgm train accepts as a MODEL file.\n\n"
           "options:\n"
           "  --json              print the configuration JSON only (needs no device)\n"
           "  -d, --device SEL    device (default: $CLGM_DEVICE, else the best GPU, else CPU)\n\n"
           "examples:\n"
           "  clgm info runs/dcgan/checkpoint.safetensors\n"
           "  clgm info runs/vae/checkpoint.safetensors --json > my-vae.json\n"
           "  clgm train my-vae.json --epochs 3\n");
}

static const char *loss_name(gm_gan_loss l)
{
    return l == GM_LOSS_BCE ? "bce" : l == GM_LOSS_LS ? "ls (least squares)" : "hinge";
}

/* Trainable values by name (n_params also counts alignment padding). */
static size_t trainable(const nn_model *net)
{
    size_t n = 0;
    for (int i = 0; i < net->n_named; i++)
        if (net->named[i].store == NN_STORE_PARAM) n += net->named[i].n;
    return n;
}

static void print_net(const char *title, const nn_model *net, const nn_optim *opt)
{
    size_t buffers = 0;
    for (int i = 0; i < net->n_named; i++)
        if (net->named[i].store == NN_STORE_BUFFER) buffers += net->named[i].n;
    printf("\n%s: %zu trainable parameters, %zu buffer values\n", title, trainable(net), buffers);
    nn_model_summary(net, stdout);
    if (opt) {
        const nn_opt_cfg *c = &opt->cfg;
        printf("optimizer %s lr %g", nn_opt_name(c->kind), c->lr);
        if (c->kind == NN_OPT_ADAM) printf(" betas (%g, %g) eps %g", c->beta1, c->beta2, c->eps);
        if (c->kind == NN_OPT_RMSPROP) printf(" alpha %g eps %g", c->alpha, c->eps);
        if (c->kind == NN_OPT_SGD) printf(" momentum %g", c->momentum);
        if (c->weight_decay) printf(" weight decay %g", c->weight_decay);
        printf(", %d steps taken\n", opt->t);
    }
}

static int print_info(const char *ckpt, clgm_ctx *ctx, const st_file *f)
{
    gm_model *m;
    clgm_status st = gm_load(ctx, ckpt, 1, &m);
    if (st != CLGM_OK) return cli_fail("info", ctx, st);
    size_t total = 0, values = 0;
    for (int i = 0; i < f->n_tensors; i++) values += f->tensors[i].numel;
    printf("checkpoint %s: %d tensors, %zu values\n", ckpt, f->n_tensors, values);
    printf("model      %s\n", m->name);
    if (m->family == GM_GAN) printf("family     GAN, loss %s\n", loss_name(m->loss));
    else if (m->family == GM_VAE) printf("family     VAE, KL weight beta %g\n", m->beta);
    else printf("family     VAE-GAN, KL weight beta %g, reconstruction weight gamma %g\n", m->beta,
                m->gamma);
    printf("image      %d x %d x %d (C x H x W)\n", m->img_c, m->img_h, m->img_w);
    printf("latent     %d\n", m->latent);
    const char *batch = st_meta(f, "clgm.batch");
    printf("trained    %lld steps, %lld epochs, batch %s, seed %llu\n", (long long)m->step,
           (long long)m->epoch, batch ? batch : "?", (unsigned long long)m->seed);
    if (m->family == GM_GAN) {
        print_net("generator G", m->G, m->optG);
        print_net("discriminator D", m->D, m->optD);
        total = trainable(m->G) + trainable(m->D);
    } else {
        print_net("encoder enc", m->E, m->optE);
        print_net("decoder dec", m->G, m->optG);
        total = trainable(m->E) + trainable(m->G);
        if (m->D) {
            print_net("discriminator D", m->D, m->optD);
            total += trainable(m->D);
        }
    }
    printf("\ntotal %zu trainable parameters\n\nmetadata:\n", total);
    for (int i = 0; i < f->n_meta; i++) {
        if (!strcmp(f->meta_keys[i], "clgm.config"))
            printf("  %-22s (%zu bytes of JSON; clgm info --json prints it)\n", f->meta_keys[i],
                   strlen(f->meta_vals[i]));
        else
            printf("  %-22s %s\n", f->meta_keys[i], f->meta_vals[i]);
    }
    gm_destroy(m);
    return 0;
}

int cmd_info(int argc, char **argv)
{
    enum { O_JSON = 256 };
    static const struct option opts[] = {
        {"json", no_argument, 0, O_JSON}, {"device", required_argument, 0, 'd'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *device = NULL;
    int json = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
        switch (c) {
        case O_JSON: json = 1; break;
        case 'd': device = optarg; break;
        case 'h': info_help(); return 0;
        default:
            return cli_error("info", "unknown or incomplete option '%s' (see clgm info --help)",
                             argv[optind - 1]), 2;
        }
    }
    if (optind >= argc)
        return cli_error("info", "which checkpoint? e.g. clgm info runs/dcgan/checkpoint.safetensors"), 2;
    const char *ckpt = argv[optind++];
    if (optind < argc)
        return cli_error("info", "unexpected argument '%s' (see clgm info --help)", argv[optind]), 2;

    st_file *f;
    if (json) {
        /* The file alone: no device needed. */
        FILE *probe = fopen(ckpt, "rb");
        if (!probe) return cli_error("info", "cannot open %s: %s", ckpt, strerror(errno));
        fclose(probe);
        if (st_read(NULL, ckpt, &f) != CLGM_OK)
            return cli_error("info", "cannot read %s as a safetensors file (missing or damaged)", ckpt);
        const char *cfg = st_meta(f, "clgm.config");
        int rc = 0;
        if (cfg) printf("%s\n", cfg);
        else rc = cli_error("info", "%s has no clgm.config metadata: not a clgm checkpoint", ckpt);
        st_file_free(f);
        return rc;
    }
    clgm_ctx *ctx;
    int rc = cli_open("info", device, &ctx);
    if (rc) return rc;
    clgm_status st = st_read(ctx, ckpt, &f);
    if (st != CLGM_OK) rc = cli_fail("info", ctx, st);
    else {
        rc = print_info(ckpt, ctx, f);
        st_file_free(f);
    }
    clgm_ctx_destroy(ctx);
    return rc;
}
