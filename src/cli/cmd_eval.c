/* clgm eval: sample quality of a generator (or of images made elsewhere)
 * measured with clgm's own Fashion-MNIST classifier, and VAE likelihoods.
 * The metric math is in app/gen_metrics.c. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/dataset.h"
#include "app/gen_metrics.h"
#include "cli/cli.h"
#include "models/classifier.h"
#include "models/gm.h"

#define CMD "eval"
#define GEN_BATCH 250

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void help(void)
{
    printf("usage: clgm eval [CKPT] [options]\n\n"
           "Scores a generator with clgm's Fashion-MNIST classifier (see clgm classifier):\n"
           "  FCD        Fréchet distance between Gaussians fitted to the classifier's\n"
           "             penultimate features of N generated and N test images (lower is better)\n"
           "  IS         classifier Inception Score exp(E KL(p(y|x) || p(y))) (10 at most)\n"
           "  class KL   KL(predicted class histogram of the samples || the test set's);\n"
           "             0 when every class is produced as often as in the data\n"
           "  precision  fraction of samples inside the k-NN manifold of the test features\n"
           "  recall     fraction of test images inside the k-NN manifold of the samples\n"
           "Beside every value: the same metric for N training images against the test\n"
           "images, the floor a perfect generator would reach. For VAEs also (per test image,\n"
           "nats): negative ELBO, the importance-weighted NLL estimate, reconstruction error.\n\n"
           "options:\n"
           "  --samples FILE|DIR  score these images (IDX file or PNG folder) instead of\n"
           "                      sampling a checkpoint (CKPT then only adds VAE metrics)\n"
           "  --n N               images per set (default 10000)\n"
           "  --test SPEC         reference images (default fashion-mnist:test)\n"
           "  --train SPEC        images for the floor (default fashion-mnist)\n"
           "  --classifier FILE   feature network (default: the Fashion-MNIST one, or\n"
           "                      $CLGM_CLASSIFIER)\n"
           "  --k N               neighbours for precision/recall (default 3)\n"
           "  --iw-k N            importance samples per image (default 1000)\n"
           "  --iw-n N            test images for the IW estimate (default 1000; 0 skips it)\n"
           "  --seed N            noise seed of the samples (default 0)\n"
           "  --json              one JSON object on stdout instead of the table\n"
           "  -d, --device SEL    device\n\n"
           "examples:\n"
           "  clgm eval runs/dcgan/checkpoint.safetensors\n"
           "  clgm eval runs/vae/checkpoint.safetensors --iw-k 100 --json\n"
           "  clgm eval --samples torch-dcgan-images-idx3-ubyte.gz\n");
}

/* Metrics of one image set against the test set. */
typedef struct quality {
    double fcd, is, class_kl, precision, recall;
} quality;

/* Classifier outputs for a set of images. */
typedef struct scored {
    int n;
    float *feat;     /* (n, F) */
    double *probs;   /* (n, K) softmax */
    double *hist;    /* K: predicted-class counts */
} scored;

static void scored_free(scored *s)
{
    free(s->feat);
    free(s->probs);
    free(s->hist);
}

static clgm_status score(clf_model *c, const float *images, int n, scored *s)
{
    int K = c->classes;
    s->n = n;
    s->feat = malloc((size_t)n * c->feat_dim * sizeof *s->feat);
    s->probs = malloc((size_t)n * K * sizeof *s->probs);
    s->hist = calloc((size_t)K, sizeof *s->hist);
    float *lg = malloc((size_t)n * K * sizeof *lg);
    if (!s->feat || !s->probs || !s->hist || !lg) {
        free(lg);
        return CLGM_ERR_OUT_OF_MEMORY;
    }
    clgm_status st = clf_forward(c, images, n, lg, s->feat);
    for (int i = 0; st == CLGM_OK && i < n; i++) {
        const float *r = lg + (size_t)i * K;
        double *p = s->probs + (size_t)i * K, m = r[0], sum = 0;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (r[k] > r[best]) best = k;
        m = r[best];
        for (int k = 0; k < K; k++) sum += p[k] = exp((double)r[k] - m);
        for (int k = 0; k < K; k++) p[k] /= sum;
        s->hist[best] += 1;
    }
    free(lg);
    return st;
}

static int quality_of(const scored *x, const scored *test, const gmx_gauss *g_test,
                      const double *test_hist, int F, int K, int k, quality *q)
{
    gmx_gauss g;
    char err[256];
    if (gmx_gauss_fit(x->feat, x->n, F, &g) != CLGM_OK)
        return cli_error(CMD, "cannot fit a Gaussian to %d feature vectors", x->n);
    clgm_status st = gmx_frechet(&g, g_test, &q->fcd, err, sizeof err);
    gmx_gauss_free(&g);
    if (st != CLGM_OK) return cli_error(CMD, "%s", err);
    q->is = gmx_inception_score(x->probs, x->n, K);
    q->class_kl = gmx_hist_kl(x->hist, test_hist, K);
    if (gmx_precision_recall(test->feat, test->n, x->feat, x->n, F, k, &q->precision, &q->recall) !=
        CLGM_OK)
        return cli_error(CMD, "precision/recall need more than k = %d images per set", k);
    return 0;
}

/* JSON string body with quotes and backslashes escaped. */
static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') putchar('\\');
        if ((unsigned char)*s >= 0x20) putchar(*s);
    }
    putchar('"');
}

static void json_num(const char *key, double v, int last)
{
    printf("  \"%s\": ", key);
    if (isfinite(v)) printf("%.6g", v);
    else printf("null");
    printf("%s\n", last ? "" : ",");
}

typedef struct eval_opts {
    const char *ckpt, *samples, *test, *train, *classifier, *device;
    long n, k, iw_k, iw_n, seed;
    int json;
} eval_opts;

static int run(const eval_opts *o)
{
    char err[1024], clf_path[1100];
    clgm_ctx *ctx = NULL;
    clf_model *c = NULL;
    gm_model *m = NULL;
    ds_dataset *te = NULL, *tr = NULL, *smp = NULL;
    float *gen = NULL;
    scored s_te = {0}, s_tr = {0}, s_gen = {0};
    gmx_gauss g_te = {0};
    quality q_gen = {0}, q_floor = {0};
    gmx_vae_stats vs = {0}, vs_iw = {0};
    double iw = NAN, t0 = now_s(), t_vae = 0;
    char *clf_acc = NULL;
    int rc = 0, have_vae = 0;
    clgm_status st;

    if (o->classifier) snprintf(clf_path, sizeof clf_path, "%s", o->classifier);
    else if (!clf_default_path(clf_path, sizeof clf_path))
        return cli_error(CMD, "no feature network found: train one with `clgm classifier train` "
                         "and pass --classifier FILE (or set CLGM_CLASSIFIER)");
    if ((rc = cli_open(CMD, o->device, &ctx))) return rc;
    if ((st = clf_load(ctx, clf_path, 500, &c)) != CLGM_OK) {
        rc = cli_fail(CMD, ctx, st);
        goto done;
    }
    clf_acc = clf_meta(ctx, clf_path, "clgm.test_accuracy");
    int C = c->img_c, H = c->img_h, W = c->img_w, K = c->classes, F = c->feat_dim;
    size_t P = (size_t)C * H * W;
    if (ds_open(o->test, C, H, W, &te, err, sizeof err) != CLGM_OK ||
        ds_open(o->train, C, H, W, &tr, err, sizeof err) != CLGM_OK) {
        rc = cli_error(CMD, "%s", err);
        goto done;
    }
    int n_te = ds_count(te) < o->n ? ds_count(te) : (int)o->n;
    int n_tr = ds_count(tr) < o->n ? ds_count(tr) : (int)o->n;
    int n_gen = (int)o->n;

    if (o->ckpt) {
        if ((st = gm_load(ctx, o->ckpt, GEN_BATCH, &m)) != CLGM_OK) {
            rc = cli_fail(CMD, ctx, st);
            goto done;
        }
        if (m->img_c != C || m->img_h != H || m->img_w != W) {
            rc = cli_error(CMD, "%s makes [%d,%d,%d] images; the classifier reads [%d,%d,%d] "
                           "(write the samples with clgm sample CKPT --n 10000 --png-dir DIR "
                           "and score DIR with --samples: a folder is resized and converted)",
                           o->ckpt, m->img_c, m->img_h, m->img_w, C, H, W);
            goto done;
        }
    }
    if (o->samples) {
        if (ds_open(o->samples, C, H, W, &smp, err, sizeof err) != CLGM_OK) {
            rc = cli_error(CMD, "%s", err);
            goto done;
        }
        if (ds_count(smp) < n_gen) n_gen = ds_count(smp);
    } else {
        gen = malloc((size_t)n_gen * P * sizeof *gen);
        if (!gen) {
            rc = cli_error(CMD, "out of host memory for %d images", n_gen);
            goto done;
        }
        if ((st = gm_generate(m, NULL, n_gen, (uint64_t)o->seed, 0, gen)) != CLGM_OK) {
            rc = cli_fail(CMD, ctx, st);
            goto done;
        }
    }
    const float *gen_img = o->samples ? ds_images(smp) : gen;
    if ((st = score(c, ds_images(te), n_te, &s_te)) != CLGM_OK ||
        (st = score(c, ds_images(tr), n_tr, &s_tr)) != CLGM_OK ||
        (st = score(c, gen_img, n_gen, &s_gen)) != CLGM_OK) {
        rc = cli_fail(CMD, ctx, st);
        goto done;
    }
    /* The reference histogram: the test set's labels where it has them. */
    double *test_hist = calloc((size_t)K, sizeof *test_hist);
    if (!test_hist) {
        rc = cli_error(CMD, "out of host memory");
        goto done;
    }
    for (int i = 0; i < n_te; i++) {
        int l = ds_label(te, i);
        if (l >= 0 && l < K) test_hist[l] += 1;
    }
    int labelled = 0;
    for (int k = 0; k < K; k++) labelled |= test_hist[k] > 0;
    if (!labelled) memcpy(test_hist, s_te.hist, (size_t)K * sizeof *test_hist);
    if (gmx_gauss_fit(s_te.feat, n_te, F, &g_te) != CLGM_OK)
        rc = cli_error(CMD, "the test set needs at least 2 images");
    if (!rc) rc = quality_of(&s_gen, &s_te, &g_te, test_hist, F, K, (int)o->k, &q_gen);
    if (!rc) rc = quality_of(&s_tr, &s_te, &g_te, test_hist, F, K, (int)o->k, &q_floor);
    free(test_hist);
    if (rc) goto done;

    if (m && m->family == GM_VAE) {
        double tv = now_s();
        have_vae = 1;
        st = gmx_vae_elbo(m, ds_images(te), n_te, (uint64_t)o->seed, &vs);
        int iw_n = o->iw_n < n_te ? (int)o->iw_n : n_te;
        /* the ELBO on the IW images too: the bound IW <= ELBO holds per image */
        if (st == CLGM_OK && iw_n > 0)
            st = gmx_vae_elbo(m, ds_images(te), iw_n, (uint64_t)o->seed, &vs_iw);
        if (st == CLGM_OK && iw_n > 0)
            st = gmx_vae_iw_nll(m, ds_images(te), iw_n, (int)o->iw_k, (uint64_t)o->seed + 1, &iw);
        if (st != CLGM_OK) {
            rc = cli_fail(CMD, ctx, st);
            goto done;
        }
        t_vae = now_s() - tv;
    }
    double secs = now_s() - t0;
    const char *what = o->samples ? o->samples : o->ckpt;
    if (o->json) {
        printf("{\n  \"source\": ");
        json_str(what);
        printf(",\n  \"model\": ");
        json_str(m ? m->name : "samples");
        printf(",\n  \"classifier\": ");
        json_str(clf_path);
        printf(",\n  \"test\": ");
        json_str(ds_source(te));
        printf(",\n  \"n_samples\": %d,\n  \"n_test\": %d,\n  \"n_train\": %d,\n  \"k\": %ld,\n"
               "  \"seed\": %ld,\n", n_gen, n_te, n_tr, o->k, o->seed);
        json_num("fcd", q_gen.fcd, 0);
        json_num("inception_score", q_gen.is, 0);
        json_num("class_kl", q_gen.class_kl, 0);
        json_num("precision", q_gen.precision, 0);
        json_num("recall", q_gen.recall, 0);
        json_num("floor_fcd", q_floor.fcd, 0);
        json_num("floor_inception_score", q_floor.is, 0);
        json_num("floor_class_kl", q_floor.class_kl, 0);
        json_num("floor_precision", q_floor.precision, 0);
        json_num("floor_recall", q_floor.recall, 0);
        if (have_vae) {
            json_num("neg_elbo", vs.neg_elbo, 0);
            json_num("recon_nats", vs.recon, 0);
            json_num("kl_nats", vs.kl, 0);
            json_num("recon_mse", vs.mse, 0);
            json_num("iw_nll", iw, 0);
            json_num("neg_elbo_iw_images", vs_iw.neg_elbo, 0);
            printf("  \"iw_k\": %ld,\n  \"iw_n\": %ld,\n", o->iw_k, o->iw_n < n_te ? o->iw_n : n_te);
        }
        json_num("seconds", secs, 1);
        printf("}\n");
    } else {
        printf("clgm eval: %s (%s), %d samples vs %d images of %s\n", what,
               m ? m->name : "images", n_gen, n_te, ds_source(te));
        if (clf_acc)
            printf("feature network: %s (test accuracy %.2f%%)\n\n", clf_path, 100 * atof(clf_acc));
        else
            printf("feature network: %s\n\n", clf_path);
        printf("%-26s %12s %14s\n", "metric", "samples", "train (floor)");
        printf("%-26s %12.3f %14.3f\n", "FCD (lower is better)", q_gen.fcd, q_floor.fcd);
        printf("%-26s %12.3f %14.3f\n", "Inception Score", q_gen.is, q_floor.is);
        printf("%-26s %12.4f %14.4f\n", "class KL (mode coverage)", q_gen.class_kl, q_floor.class_kl);
        char pk[32], rk[32];
        snprintf(pk, sizeof pk, "precision (k=%ld)", o->k);
        snprintf(rk, sizeof rk, "recall (k=%ld)", o->k);
        printf("%-26s %12.3f %14.3f\n", pk, q_gen.precision, q_floor.precision);
        printf("%-26s %12.3f %14.3f\n", rk, q_gen.recall, q_floor.recall);
        if (have_vae) {
            printf("\nVAE, per test image in nats (%d images):\n", n_te);
            printf("  %-32s %10.2f\n", "negative ELBO", vs.neg_elbo);
            printf("  %-32s %10.2f\n", "  reconstruction -log p(x|z)", vs.recon);
            printf("  %-32s %10.2f\n", "  KL(q(z|x) || p(z))", vs.kl);
            if (isfinite(iw)) {
                char iwl[64];
                snprintf(iwl, sizeof iwl, "IW NLL (k=%ld, %ld images)", o->iw_k,
                         o->iw_n < n_te ? o->iw_n : (long)n_te);
                printf("  %-32s %10.2f\n", iwl, iw);
                printf("  %-32s %10.2f\n", "  negative ELBO, same images", vs_iw.neg_elbo);
            }
            printf("  %-32s %10.5f\n", "reconstruction MSE per pixel", vs.mse);
        }
        printf("\n%.1f s\n", secs);
        if (have_vae) fprintf(stderr, "clgm eval: VAE likelihoods took %.1f s\n", t_vae);
    }
done:
    free(clf_acc);
    free(gen);
    scored_free(&s_te);
    scored_free(&s_tr);
    scored_free(&s_gen);
    gmx_gauss_free(&g_te);
    ds_close(te);
    ds_close(tr);
    ds_close(smp);
    gm_destroy(m);
    clf_destroy(c);
    clgm_ctx_destroy(ctx);
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    enum { O_SAMPLES = 256, O_N, O_TEST, O_TRAIN, O_CLF, O_K, O_IWK, O_IWN, O_SEED, O_JSON };
    static const struct option opts[] = {
        {"samples", required_argument, 0, O_SAMPLES}, {"n", required_argument, 0, O_N},
        {"test", required_argument, 0, O_TEST}, {"train", required_argument, 0, O_TRAIN},
        {"classifier", required_argument, 0, O_CLF}, {"k", required_argument, 0, O_K},
        {"iw-k", required_argument, 0, O_IWK}, {"iw-n", required_argument, 0, O_IWN},
        {"seed", required_argument, 0, O_SEED}, {"json", no_argument, 0, O_JSON},
        {"device", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    eval_opts o = {.test = "fashion-mnist:test", .train = "fashion-mnist", .n = 10000, .k = 3,
                   .iw_k = 1000, .iw_n = 1000};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
        switch (c) {
        case O_SAMPLES: o.samples = optarg; break;
        case O_N: if (!cli_parse_long(CMD, optarg, "--n", 5, 10000000, &o.n)) return 2; break;
        case O_TEST: o.test = optarg; break;
        case O_TRAIN: o.train = optarg; break;
        case O_CLF: o.classifier = optarg; break;
        case O_K: if (!cli_parse_long(CMD, optarg, "--k", 1, 1000, &o.k)) return 2; break;
        case O_IWK: if (!cli_parse_long(CMD, optarg, "--iw-k", 1, 1000000, &o.iw_k)) return 2; break;
        case O_IWN: if (!cli_parse_long(CMD, optarg, "--iw-n", 0, 10000000, &o.iw_n)) return 2; break;
        case O_SEED: if (!cli_parse_long(CMD, optarg, "--seed", 0, LONG_MAX, &o.seed)) return 2; break;
        case O_JSON: o.json = 1; break;
        case 'd': o.device = optarg; break;
        case 'h': help(); return 0;
        default:
            return cli_error(CMD, "unknown or incomplete option '%s' (see clgm eval --help)",
                             argv[optind - 1]), 2;
        }
    }
    if (optind < argc) o.ckpt = argv[optind++];
    if (optind < argc)
        return cli_error(CMD, "unexpected argument '%s' (see clgm eval --help)", argv[optind]), 2;
    if (!o.ckpt && !o.samples)
        return cli_error(CMD, "what to score? a checkpoint (clgm eval runs/dcgan/checkpoint.safetensors) "
                         "or --samples FILE|DIR"), 2;
    if (o.k >= o.n)
        return cli_error(CMD, "--k %ld needs more than k images (--n %ld)", o.k, o.n), 2;
    return run(&o);
}
