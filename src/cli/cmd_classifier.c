/* clgm classifier train / eval: the small conv classifier that is the
 * feature network of `clgm eval` (trained by clgm itself, since Inception
 * weights cannot be assumed), and its test accuracy. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/dataset.h"
#include "cli/cli.h"
#include "models/classifier.h"
#include "nn/check.h"

#define CMD "classifier"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The test split beside a training spec: fashion-mnist -> fashion-mnist:test,
 * folder[:train] -> folder:test, .../train-images-idx3-ubyte.gz -> t10k-... */
static void test_spec_of(const char *train, char *out, size_t len)
{
    const char *colon = strrchr(train, ':');
    const char *p = strstr(train, "train-images");
    if (p) {
        snprintf(out, len, "%.*st10k%s", (int)(p - train), train, p + 5);
    } else if (colon && !strcmp(colon, ":train")) {
        snprintf(out, len, "%.*s:test", (int)(colon - train), train);
    } else {
        snprintf(out, len, "%s:test", train);
    }
}

/* Accuracy (fraction) of the classifier on a labelled set. */
static clgm_status accuracy(clf_model *m, const ds_dataset *ds, double *acc)
{
    int n = ds_count(ds);
    float *logits = malloc((size_t)n * m->classes * sizeof *logits);
    if (!logits) return clgm_fail(m->ctx, CLGM_ERR_OUT_OF_MEMORY, "host allocation failed");
    clgm_status st = clf_forward(m, ds_images(ds), n, logits, NULL);
    int right = 0;
    for (int i = 0; st == CLGM_OK && i < n; i++) {
        const float *r = logits + (size_t)i * m->classes;
        int best = 0;
        for (int k = 1; k < m->classes; k++)
            if (r[k] > r[best]) best = k;
        right += best == ds_label(ds, i);
    }
    free(logits);
    *acc = (double)right / n;
    return st;
}

/* ---- train ---- */

static void train_help(void)
{
    printf("usage: clgm classifier train [options]\n\n"
           "Trains the conv classifier used as the feature network of `clgm eval`:\n"
           "conv3x3(W) BN ReLU maxpool2, conv3x3(2W) BN ReLU maxpool2, linear(H) ReLU\n"
           "dropout, linear(classes); Adam with a cosine learning-rate decay to 0, random\n"
           "horizontal flips. Reports test accuracy after every epoch and writes the\n"
           "checkpoint (weights, spec, the exact command, seed and accuracy) each epoch.\n\n"
           "options:\n"
           "  --data SPEC       labelled training set (default fashion-mnist)\n"
           "  --test SPEC       test set (default: the data's test split)\n"
           "  --epochs N        epochs (default 8)\n"
           "  --batch N         batch size (default 128)\n"
           "  --lr F            Adam learning rate at the start (default 0.002)\n"
           "  --width N         channels of the first conv block (default 16)\n"
           "  --hidden N        size of the penultimate (feature) layer (default 128)\n"
           "  --dropout P       dropout before the last layer (default 0.3)\n"
           "  --no-flip         no random horizontal flips\n"
           "  --seed N          seed for weights, dropout, data order and flips (default 0)\n"
           "  --max-steps N     stop after N steps (quick checks)\n"
           "  -o, --out FILE    checkpoint (default classifier.safetensors)\n"
           "  -d, --device SEL  device\n"
           "  -q, --quiet       no progress lines\n\n"
           "example:\n"
           "  clgm classifier train --data fashion-mnist --epochs 8 --seed 0 \\\n"
           "      --out src/models/classifier/fashion-mnist.safetensors\n");
}

/* splitmix64 hash: flip decisions depend only on (seed, epoch, i). */
static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void flip_rows(float *img, int c, int h, int w)
{
    for (int r = 0; r < c * h; r++)
        for (int j = 0; j < w / 2; j++) {
            float t = img[(size_t)r * w + j];
            img[(size_t)r * w + j] = img[(size_t)r * w + w - 1 - j];
            img[(size_t)r * w + w - 1 - j] = t;
        }
}

typedef struct train_opts {
    const char *data, *test, *out, *device;
    long epochs, batch, width, hidden, max_steps, seed;
    double lr, dropout;
    int flip, quiet;
} train_opts;

static int train_run(const train_opts *o, const char *command)
{
    char err[1024], test_spec[1100];
    ds_dataset *tr = NULL, *te = NULL;
    clgm_ctx *ctx = NULL;
    clf_model *m = NULL;
    float *x = NULL;
    int *perm = NULL, *lab = NULL, rc = 0;
    if (ds_open(o->data, 0, 0, 0, &tr, err, sizeof err) != CLGM_OK) return cli_error(CMD, "%s", err);
    int C, H, W;
    ds_shape(tr, &C, &H, &W);
    int K = ds_num_classes(tr);
    if (K < 2) {
        ds_close(tr);
        return cli_error(CMD, "%s has no labels (a classifier needs labelled data)", ds_source(tr));
    }
    if (o->test) snprintf(test_spec, sizeof test_spec, "%s", o->test);
    else test_spec_of(o->data, test_spec, sizeof test_spec);
    if (ds_open(test_spec, C, H, W, &te, err, sizeof err) != CLGM_OK) {
        rc = cli_error(CMD, "test set: %s (give one with --test)", err);
        goto done;
    }
    if ((rc = cli_open(CMD, o->device, &ctx))) goto done;
    char *spec = clf_default_spec(C, H, W, K, (int)o->width, (int)o->hidden, (float)o->dropout);
    clgm_status st = spec ? clf_create(ctx, spec, (int)o->batch, (uint64_t)o->seed, (float)o->lr, &m)
                          : CLGM_ERR_OUT_OF_MEMORY;
    free(spec);
    if (st != CLGM_OK) {
        rc = cli_fail(CMD, ctx, st);
        goto done;
    }
    int n = ds_count(tr), B = (int)o->batch;
    int64_t spe = n / B, total = spe * o->epochs;
    if (spe < 1) {
        rc = cli_error(CMD, "%d images are fewer than one batch of %d", n, B);
        goto done;
    }
    if (o->max_steps && o->max_steps < total) total = o->max_steps;
    size_t img = (size_t)C * H * W;
    x = malloc((size_t)B * img * sizeof *x);
    perm = malloc((size_t)n * sizeof *perm);
    lab = malloc((size_t)B * sizeof *lab);
    if (!x || !perm || !lab) {
        rc = cli_error(CMD, "out of host memory");
        goto done;
    }
    if (!o->quiet)
        fprintf(stderr, "clgm classifier: %d images (%d classes) from %s on %s, %" PRId64
                " steps of %d, %.0f parameters\n", n, K, ds_source(tr),
                clgm_ctx_device(ctx)->name, total, B, (double)m->net->n_params);
    double t0 = now_s(), t_epoch = t0, acc = 0, loss = 0;
    for (int64_t s = 0; s < total; s++) {
        int64_t epoch = s / spe, i = s % spe;
        if (i == 0) ds_shuffle(n, (uint64_t)o->seed, (uint64_t)epoch, perm);
        st = ds_batch(tr, perm + i * B, B, x, lab);
        for (int j = 0; o->flip && j < B; j++)
            if (mix64((uint64_t)o->seed * 0x100000001b3ULL ^ mix64((uint64_t)(s * B + j))) >> 63)
                flip_rows(x + (size_t)j * img, C, H, W);
        /* cosine decay from lr to 0 over the run */
        m->opt->cfg.lr = (float)(o->lr * 0.5 * (1.0 + cos(3.14159265358979323846 * (double)s / (double)total)));
        if (st == CLGM_OK) st = clf_train_step(m, x, lab, B);
        if (st == CLGM_OK && ((s + 1) % 100 == 0 || s + 1 == total)) {
            st = clf_read_loss(m, &loss);
            if (st == CLGM_OK && !isfinite(loss))
                st = clgm_fail(ctx, CLGM_ERR_NUMERIC, "the loss became %g at step %" PRId64
                               " (try a lower --lr)", loss, s + 1);
            if (st == CLGM_OK && !o->quiet && (s + 1) % 100 == 0)
                fprintf(stderr, "  epoch %" PRId64 " step %" PRId64 "/%" PRId64 " loss %.4f  %.0f img/s\n",
                        epoch + 1, s + 1, total, loss, (double)(s + 1 - epoch * spe) * B /
                        (now_s() - t_epoch));
        }
        if (st != CLGM_OK) {
            rc = cli_fail(CMD, ctx, st);
            goto done;
        }
        if ((s + 1) % spe == 0 || s + 1 == total) {
            double t1 = now_s();
            st = accuracy(m, te, &acc);
            if (st != CLGM_OK) {
                rc = cli_fail(CMD, ctx, st);
                goto done;
            }
            char a[32], sd[32], ep[32], stp[32];
            snprintf(a, sizeof a, "%.4f", acc);
            snprintf(sd, sizeof sd, "%ld", o->seed);
            snprintf(ep, sizeof ep, "%.6g", (double)(s + 1) / spe);
            snprintf(stp, sizeof stp, "%" PRId64, s + 1);
            const char *keys[] = {"clgm.command", "clgm.seed", "clgm.test_accuracy", "clgm.epochs",
                                  "clgm.steps", "clgm.data", "clgm.test_data"};
            const char *vals[] = {command, sd, a, ep, stp, o->data, test_spec};
            st = clf_save(m, o->out, 7, keys, vals);
            if (st != CLGM_OK) {
                rc = cli_fail(CMD, ctx, st);
                goto done;
            }
            double t2 = now_s();
            /* one machine-readable line per epoch (also under --quiet) */
            printf("epoch %" PRId64 " loss %.4f test_accuracy %.4f train_s %.1f eval_s %.1f\n",
                   epoch + 1, loss, acc, t1 - t_epoch, t2 - t1);
            fflush(stdout);
            t_epoch = now_s();
        }
    }
    if (!o->quiet)
        fprintf(stderr, "clgm classifier: test accuracy %.2f%% after %.0f s -> %s\n", 100 * acc,
                now_s() - t0, o->out);
done:
    free(x);
    free(perm);
    free(lab);
    clf_destroy(m);
    ds_close(tr);
    ds_close(te);
    clgm_ctx_destroy(ctx);
    return rc;
}

static int cmd_train_classifier(int argc, char **argv, const char *command)
{
    enum { O_DATA = 256, O_TEST, O_EPOCHS, O_BATCH, O_LR, O_WIDTH, O_HIDDEN, O_DROP, O_NOFLIP,
           O_SEED, O_MAX };
    static const struct option opts[] = {
        {"data", required_argument, 0, O_DATA}, {"test", required_argument, 0, O_TEST},
        {"epochs", required_argument, 0, O_EPOCHS}, {"batch", required_argument, 0, O_BATCH},
        {"lr", required_argument, 0, O_LR}, {"width", required_argument, 0, O_WIDTH},
        {"hidden", required_argument, 0, O_HIDDEN}, {"dropout", required_argument, 0, O_DROP},
        {"no-flip", no_argument, 0, O_NOFLIP}, {"seed", required_argument, 0, O_SEED},
        {"max-steps", required_argument, 0, O_MAX}, {"out", required_argument, 0, 'o'},
        {"device", required_argument, 0, 'd'}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    train_opts o = {.data = "fashion-mnist", .out = "classifier.safetensors", .epochs = 8,
                    .batch = 128, .width = 16, .hidden = 128, .lr = 0.002, .dropout = 0.3,
                    .flip = 1};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:d:qh", opts, NULL)) != -1) {
        switch (c) {
        case O_DATA: o.data = optarg; break;
        case O_TEST: o.test = optarg; break;
        case O_EPOCHS: if (!cli_parse_long(CMD, optarg, "--epochs", 1, 100000, &o.epochs)) return 2; break;
        case O_BATCH: if (!cli_parse_long(CMD, optarg, "--batch", 1, 4096, &o.batch)) return 2; break;
        case O_LR: if (!cli_parse_double(CMD, optarg, "--lr", 1e-9, 10, &o.lr)) return 2; break;
        case O_WIDTH: if (!cli_parse_long(CMD, optarg, "--width", 1, 1024, &o.width)) return 2; break;
        case O_HIDDEN: if (!cli_parse_long(CMD, optarg, "--hidden", 1, 65536, &o.hidden)) return 2; break;
        case O_DROP: if (!cli_parse_double(CMD, optarg, "--dropout", 0, 0.95, &o.dropout)) return 2; break;
        case O_NOFLIP: o.flip = 0; break;
        case O_SEED: if (!cli_parse_long(CMD, optarg, "--seed", 0, 0x7fffffffL, &o.seed)) return 2; break;
        case O_MAX: if (!cli_parse_long(CMD, optarg, "--max-steps", 1, 0x7fffffffL, &o.max_steps)) return 2; break;
        case 'o': o.out = optarg; break;
        case 'd': o.device = optarg; break;
        case 'q': o.quiet = 1; break;
        case 'h': train_help(); return 0;
        default:
            return cli_error(CMD, "unknown or incomplete option '%s' (see clgm classifier train --help)",
                             argv[optind - 1]), 2;
        }
    }
    if (optind < argc)
        return cli_error(CMD, "unexpected argument '%s' (see clgm classifier train --help)", argv[optind]), 2;
    return train_run(&o, command);
}

/* ---- eval ---- */

static void eval_help(void)
{
    printf("usage: clgm classifier eval [CKPT] [options]\n\n"
           "Prints the accuracy of a classifier checkpoint on a labelled set.\n"
           "CKPT defaults to the Fashion-MNIST feature network of `clgm eval`.\n\n"
           "options:\n"
           "  --data SPEC       labelled set (default fashion-mnist:test)\n"
           "  --json            one JSON object instead of text\n"
           "  -d, --device SEL  device\n");
}

static int cmd_eval_classifier(int argc, char **argv)
{
    enum { O_DATA = 256, O_JSON };
    static const struct option opts[] = {
        {"data", required_argument, 0, O_DATA}, {"json", no_argument, 0, O_JSON},
        {"device", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *data = "fashion-mnist:test", *device = NULL;
    int json = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
        switch (c) {
        case O_DATA: data = optarg; break;
        case O_JSON: json = 1; break;
        case 'd': device = optarg; break;
        case 'h': eval_help(); return 0;
        default:
            return cli_error(CMD, "unknown or incomplete option '%s' (see clgm classifier eval --help)",
                             argv[optind - 1]), 2;
        }
    }
    char path[1100];
    if (optind < argc) snprintf(path, sizeof path, "%s", argv[optind++]);
    else if (!clf_default_path(path, sizeof path))
        return cli_error(CMD, "no default classifier found; give a checkpoint or set CLGM_CLASSIFIER"), 2;
    if (optind < argc)
        return cli_error(CMD, "unexpected argument '%s' (see clgm classifier eval --help)", argv[optind]), 2;
    clgm_ctx *ctx = NULL;
    clf_model *m = NULL;
    ds_dataset *ds = NULL;
    char err[1024];
    int rc = cli_open(CMD, device, &ctx);
    if (rc) return rc;
    clgm_status st = clf_load(ctx, path, 500, &m);
    if (st != CLGM_OK) rc = cli_fail(CMD, ctx, st);
    if (!rc && ds_open(data, m->img_c, m->img_h, m->img_w, &ds, err, sizeof err) != CLGM_OK)
        rc = cli_error(CMD, "%s", err);
    if (!rc && ds_num_classes(ds) < 1) rc = cli_error(CMD, "%s has no labels", ds_source(ds));
    double acc = 0, t0 = now_s();
    if (!rc && (st = accuracy(m, ds, &acc)) != CLGM_OK) rc = cli_fail(CMD, ctx, st);
    if (!rc) {
        if (json)
            printf("{\"checkpoint\": \"%s\", \"data\": \"%s\", \"images\": %d, \"accuracy\": %.6f, "
                   "\"seconds\": %.2f}\n", path, ds_source(ds), ds_count(ds), acc, now_s() - t0);
        else
            printf("accuracy %.2f%% (%d images of %s; classifier %s)\n", 100 * acc, ds_count(ds),
                   ds_source(ds), path);
    }
    ds_close(ds);
    clf_destroy(m);
    clgm_ctx_destroy(ctx);
    return rc;
}

int cmd_classifier(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: clgm classifier train|eval [options]   (see clgm classifier train --help)\n");
        return argc < 2 ? 2 : 0;
    }
    /* The exact command line, kept in the checkpoint to reproduce it. */
    char command[2048] = "clgm";
    for (int i = 0; i < argc; i++) {
        strncat(command, " ", sizeof command - strlen(command) - 1);
        strncat(command, argv[i], sizeof command - strlen(command) - 1);
    }
    if (!strcmp(argv[1], "train")) return cmd_train_classifier(argc - 1, argv + 1, command);
    if (!strcmp(argv[1], "eval")) return cmd_eval_classifier(argc - 1, argv + 1);
    return cli_error(CMD, "unknown action '%s': train or eval", argv[1]), 2;
}
