/* Host math of the evaluation metrics (see gen_metrics.h). */
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/gen_metrics.h"
#include "nn/check.h"
#include "ops/ops.h"

clgm_status gmx_gauss_fit(const float *feat, int n, int d, gmx_gauss *out)
{
    memset(out, 0, sizeof *out);
    if (n < 2 || d < 1) return CLGM_ERR_INVALID_ARG;
    out->d = d;
    out->mu = calloc((size_t)d, sizeof *out->mu);
    out->cov = calloc((size_t)d * d, sizeof *out->cov);
    double *row = malloc((size_t)d * sizeof *row);
    if (!out->mu || !out->cov || !row) {
        free(row);
        gmx_gauss_free(out);
        return CLGM_ERR_OUT_OF_MEMORY;
    }
    for (int i = 0; i < n; i++)
        for (int a = 0; a < d; a++) out->mu[a] += feat[(size_t)i * d + a];
    for (int a = 0; a < d; a++) out->mu[a] /= n;
    /* upper triangle of sum (x - mu)(x - mu)^T, then mirrored */
    for (int i = 0; i < n; i++) {
        for (int a = 0; a < d; a++) row[a] = feat[(size_t)i * d + a] - out->mu[a];
        for (int a = 0; a < d; a++) {
            double ra = row[a];
            double *c = out->cov + (size_t)a * d;
            for (int b = a; b < d; b++) c[b] += ra * row[b];
        }
    }
    for (int a = 0; a < d; a++)
        for (int b = a; b < d; b++) {
            double v = out->cov[(size_t)a * d + b] / (n - 1);
            out->cov[(size_t)a * d + b] = out->cov[(size_t)b * d + a] = v;
        }
    free(row);
    return CLGM_OK;
}

void gmx_gauss_free(gmx_gauss *g)
{
    free(g->mu);
    free(g->cov);
    g->mu = g->cov = NULL;
}

/* C = A B for d x d row-major matrices. */
static void matmul(const double *A, const double *B, double *C, int d)
{
    memset(C, 0, (size_t)d * d * sizeof *C);
    for (int i = 0; i < d; i++)
        for (int k = 0; k < d; k++) {
            double a = A[(size_t)i * d + k];
            const double *b = B + (size_t)k * d;
            double *c = C + (size_t)i * d;
            for (int j = 0; j < d; j++) c[j] += a * b[j];
        }
}

clgm_status gmx_frechet(const gmx_gauss *a, const gmx_gauss *b, double *fd, char *err,
                        size_t errlen)
{
    int d = a->d;
    if (b->d != d) {
        snprintf(err, errlen, "Fréchet distance of %d- and %d-dimensional Gaussians", d, b->d);
        return CLGM_ERR_SHAPE;
    }
    size_t dd = (size_t)d * d;
    double *V = malloc(dd * sizeof *V), *S = malloc(dd * sizeof *S), *T = malloc(dd * sizeof *T);
    double *w = malloc((size_t)d * sizeof *w);
    clgm_status st = CLGM_OK;
    if (!V || !S || !T || !w) {
        st = CLGM_ERR_OUT_OF_MEMORY;
        snprintf(err, errlen, "out of host memory");
        goto done;
    }
    /* S1^1/2 = V diag(sqrt(max(w, 0))) V^T from S1 = V diag(w) V^T */
    memcpy(V, a->cov, dd * sizeof *V);
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', d, V, d, w);
    if (info) {
        st = CLGM_ERR_NUMERIC;
        snprintf(err, errlen, "LAPACKE_dsyevd failed (info %d) on the first covariance", (int)info);
        goto done;
    }
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) T[(size_t)i * d + j] = V[(size_t)i * d + j] * sqrt(fmax(w[j], 0));
    for (int i = 0; i < d; i++)       /* S = T V^T */
        for (int j = 0; j < d; j++) {
            double s = 0;
            for (int k = 0; k < d; k++) s += T[(size_t)i * d + k] * V[(size_t)j * d + k];
            S[(size_t)i * d + j] = s;
        }
    /* M = S1^1/2 S2 S1^1/2 is symmetric PSD: tr(M^1/2) = sum sqrt(eigenvalues) */
    matmul(S, b->cov, T, d);
    matmul(T, S, V, d);
    for (int i = 0; i < d; i++)
        for (int j = i + 1; j < d; j++) {
            double m = 0.5 * (V[(size_t)i * d + j] + V[(size_t)j * d + i]);
            V[(size_t)i * d + j] = V[(size_t)j * d + i] = m;
        }
    info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'U', d, V, d, w);
    if (info) {
        st = CLGM_ERR_NUMERIC;
        snprintf(err, errlen, "LAPACKE_dsyevd failed (info %d) on S1^1/2 S2 S1^1/2", (int)info);
        goto done;
    }
    double diff = 0, tr = 0, trsq = 0;
    for (int i = 0; i < d; i++) {
        double m = a->mu[i] - b->mu[i];
        diff += m * m;
        tr += a->cov[(size_t)i * d + i] + b->cov[(size_t)i * d + i];
        trsq += sqrt(fmax(w[i], 0));
    }
    *fd = diff + tr - 2 * trsq;
    if (*fd < 0) *fd = 0; /* rounding on identical sets */
done:
    free(V);
    free(S);
    free(T);
    free(w);
    return st;
}

double gmx_inception_score(const double *probs, int n, int K)
{
    double *py = calloc((size_t)K, sizeof *py);
    if (!py || n < 1) {
        free(py);
        return NAN;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++) py[k] += probs[(size_t)i * K + k] / n;
    double kl = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++) {
            double p = probs[(size_t)i * K + k];
            if (p > 0) kl += p * (log(p) - log(py[k]));
        }
    free(py);
    return exp(kl / n);
}

double gmx_hist_kl(const double *p_counts, const double *q_counts, int K)
{
    double sp = 0, sq = 0, kl = 0;
    for (int k = 0; k < K; k++) sp += p_counts[k], sq += q_counts[k];
    for (int k = 0; k < K; k++) {
        double p = p_counts[k] / sp, q = q_counts[k] / sq;
        if (p > 0) kl += q > 0 ? p * log(p / q) : INFINITY;
    }
    return kl;
}

double gmx_logsumexp(const double *v, int n)
{
    if (n < 1) return -INFINITY;
    double m = v[0], s = 0;
    for (int i = 1; i < n; i++) m = fmax(m, v[i]);
    if (!isfinite(m)) return m;
    for (int i = 0; i < n; i++) s += exp(v[i] - m);
    return m + log(s);
}

/* ---- blocked squared distances ---- */

enum { BLK = 64 };

static void sq_norms(const float *x, int n, int d, float *out)
{
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int t = 0; t < d; t++) s += (double)x[(size_t)i * d + t] * x[(size_t)i * d + t];
        out[i] = (float)s;
    }
}

/* bt (d, BLK) <- rows j0..j0+nb of y, transposed, so the inner loop runs
 * along BLK contiguous floats (vectorizes without reassociation). */
static void load_block(const float *y, int j0, int nb, int d, float *bt)
{
    for (int t = 0; t < d; t++)
        for (int j = 0; j < BLK; j++) bt[(size_t)t * BLK + j] = j < nb ? y[(size_t)(j0 + j) * d + t] : 0;
}

/* dist[j] = |x_i - y_j|^2 for the BLK columns of the block. */
static void row_dists(const float *xi, float nx, const float *bt, const float *ny, int nb, int d,
                      float *dist)
{
    float acc[BLK];
    for (int j = 0; j < BLK; j++) acc[j] = 0;
    for (int t = 0; t < d; t++) {
        float a = xi[t];
        const float *b = bt + (size_t)t * BLK;
        for (int j = 0; j < BLK; j++) acc[j] += a * b[j];
    }
    for (int j = 0; j < nb; j++) {
        float v = nx + ny[j] - 2 * acc[j];
        dist[j] = v > 0 ? v : 0;
    }
}

/* r2[i] = squared distance from x_i to its k-th nearest other point of x. */
static clgm_status knn_radii(const float *x, const float *nx, int n, int d, int k, float *r2)
{
    float *bt = malloc((size_t)d * BLK * sizeof *bt), *best = malloc((size_t)n * k * sizeof *best);
    if (!bt || !best) {
        free(bt);
        free(best);
        return CLGM_ERR_OUT_OF_MEMORY;
    }
    for (size_t i = 0; i < (size_t)n * k; i++) best[i] = INFINITY;
    float dist[BLK];
    for (int j0 = 0; j0 < n; j0 += BLK) {
        int nb = n - j0 < BLK ? n - j0 : BLK;
        load_block(x, j0, nb, d, bt);
        for (int i = 0; i < n; i++) {
            row_dists(x + (size_t)i * d, nx[i], bt, nx + j0, nb, d, dist);
            float *bi = best + (size_t)i * k;
            for (int j = 0; j < nb; j++) {
                if (j0 + j == i || dist[j] >= bi[k - 1]) continue;
                int p = k - 1; /* insertion into the ascending list */
                while (p > 0 && bi[p - 1] > dist[j]) {
                    bi[p] = bi[p - 1];
                    p--;
                }
                bi[p] = dist[j];
            }
        }
    }
    for (int i = 0; i < n; i++) r2[i] = best[(size_t)i * k + k - 1];
    free(bt);
    free(best);
    return CLGM_OK;
}

/* Fraction of query points within r2 of some reference point. */
static clgm_status coverage(const float *q, const float *nq, int n_q, const float *ref,
                            const float *nref, const float *r2, int n_ref, int d, double *frac)
{
    float *bt = malloc((size_t)d * BLK * sizeof *bt);
    char *in = calloc((size_t)n_q, 1);
    if (!bt || !in) {
        free(bt);
        free(in);
        return CLGM_ERR_OUT_OF_MEMORY;
    }
    float dist[BLK];
    for (int j0 = 0; j0 < n_ref; j0 += BLK) {
        int nb = n_ref - j0 < BLK ? n_ref - j0 : BLK;
        load_block(ref, j0, nb, d, bt);
        for (int i = 0; i < n_q; i++) {
            if (in[i]) continue;
            row_dists(q + (size_t)i * d, nq[i], bt, nref + j0, nb, d, dist);
            for (int j = 0; j < nb && !in[i]; j++) in[i] = dist[j] <= r2[j0 + j];
        }
    }
    int c = 0;
    for (int i = 0; i < n_q; i++) c += in[i];
    *frac = (double)c / n_q;
    free(bt);
    free(in);
    return CLGM_OK;
}

clgm_status gmx_precision_recall(const float *real, int nr, const float *fake, int nf, int d,
                                 int k, double *precision, double *recall)
{
    if (k < 1 || nr <= k || nf <= k || d < 1) return CLGM_ERR_INVALID_ARG;
    float *n_r = malloc((size_t)nr * sizeof *n_r), *n_f = malloc((size_t)nf * sizeof *n_f);
    float *r_r = malloc((size_t)nr * sizeof *r_r), *r_f = malloc((size_t)nf * sizeof *r_f);
    clgm_status st = (!n_r || !n_f || !r_r || !r_f) ? CLGM_ERR_OUT_OF_MEMORY : CLGM_OK;
    if (st == CLGM_OK) {
        sq_norms(real, nr, d, n_r);
        sq_norms(fake, nf, d, n_f);
        st = knn_radii(real, n_r, nr, d, k, r_r);
    }
    if (st == CLGM_OK) st = knn_radii(fake, n_f, nf, d, k, r_f);
    if (st == CLGM_OK) st = coverage(fake, n_f, nf, real, n_r, r_r, nr, d, precision);
    if (st == CLGM_OK) st = coverage(real, n_r, nr, fake, n_f, r_f, nf, d, recall);
    free(n_r);
    free(n_f);
    free(r_r);
    free(r_f);
    return st;
}

/* ---- VAE likelihoods ---- */

/* -log p(x|z) of one image: sum over pixels of BCE(logit, x), stable form. */
static double bce_sum(const float *logits, const float *x, size_t P)
{
    double s = 0;
    for (size_t p = 0; p < P; p++) {
        float v = logits[p];
        s += fmaxf(v, 0.0f) - v * x[p] + log1pf(expf(-fabsf(v)));
    }
    return s;
}

/* h (k, 2L) = encoder(images) in eval mode, in chunks of the model's batch. */
static clgm_status encode_all(gm_model *m, const float *images01, int n, float *h)
{
    size_t P = (size_t)m->img_c * m->img_h * m->img_w, L2 = 2 * (size_t)m->latent;
    clgm_status st = CLGM_OK;
    for (int done = 0; done < n && st == CLGM_OK; done += m->batch) {
        int k = n - done < m->batch ? n - done : m->batch;
        nn_tensor x = nn_view4(m->x, 0, k, m->img_c, m->img_h, m->img_w), y;
        st = clgm_buf_write(m->ctx, m->x, 0, (size_t)k * P * sizeof(float), images01 + (size_t)done * P);
        if (st == CLGM_OK) st = nn_model_forward(m->E, &x, &y);
        if (st == CLGM_OK && nn_numel(&y) != (size_t)k * L2) st = CLGM_ERR_SHAPE;
        if (st == CLGM_OK) st = nn_tensor_read(m->ctx, &y, h + (size_t)done * L2);
    }
    return st;
}

/* logits (k, P) = decoder(z (k, L)), k <= batch. */
static clgm_status decode(gm_model *m, const float *z, int k, float *logits)
{
    nn_tensor zt = nn_view2(m->scratch, m->z_off, k, m->latent), y;
    NN_TRY(clgm_buf_write(m->ctx, m->scratch, m->z_off * sizeof(float),
                             (size_t)k * m->latent * sizeof(float), z));
    NN_TRY(nn_model_forward(m->G, &zt, &y));
    return nn_tensor_read(m->ctx, &y, logits);
}

static void set_eval(gm_model *m, int eval)
{
    nn_model_set_training(m->E, !eval);
    nn_model_set_training(m->G, !eval);
}

static clgm_status check_vae(gm_model *m, int n)
{
    if (m->family != GM_VAE || !m->E)
        return clgm_fail(m->ctx, CLGM_ERR_UNSUPPORTED, "%s is not a VAE: no likelihood to estimate", m->name);
    if (n < 1) return clgm_fail(m->ctx, CLGM_ERR_INVALID_ARG, "VAE likelihood of %d images", n);
    return CLGM_OK;
}

clgm_status gmx_vae_elbo(gm_model *m, const float *images01, int n, uint64_t seed,
                         gmx_vae_stats *out)
{
    memset(out, 0, sizeof *out);
    NN_TRY(check_vae(m, n));
    int L = m->latent, B = m->batch;
    size_t P = (size_t)m->img_c * m->img_h * m->img_w;
    float *h = malloc((size_t)n * 2 * L * sizeof *h), *z = malloc((size_t)B * L * sizeof *z);
    float *eps = malloc((size_t)B * L * sizeof *eps), *lg = malloc((size_t)B * P * sizeof *lg);
    clgm_status st = (!h || !z || !eps || !lg)
        ? clgm_fail(m->ctx, CLGM_ERR_OUT_OF_MEMORY, "host allocation failed") : CLGM_OK;
    set_eval(m, 1);
    if (st == CLGM_OK) st = encode_all(m, images01, n, h);
    uint64_t off = 0;
    double recon = 0, kl = 0, se = 0;
    for (int done = 0; done < n && st == CLGM_OK; done += B) {
        int k = n - done < B ? n - done : B;
        op_rng_normal_host((size_t)k * L, seed, off, 0.0f, 1.0f, eps);
        off += op_rng_span((size_t)k * L);
        for (int i = 0; i < k; i++) {
            const float *hi = h + ((size_t)done + i) * 2 * L;
            for (int l = 0; l < L; l++) {
                double mu = hi[l], lv = hi[L + l];
                z[(size_t)i * L + l] = (float)(mu + eps[(size_t)i * L + l] * exp(0.5 * lv));
                kl += 0.5 * (mu * mu + exp(lv) - 1 - lv);
            }
        }
        st = decode(m, z, k, lg);
        for (int i = 0; st == CLGM_OK && i < k; i++)
            recon += bce_sum(lg + (size_t)i * P, images01 + ((size_t)done + i) * P, P);
        /* reconstruction from the posterior mean */
        for (int i = 0; i < k; i++)
            memcpy(z + (size_t)i * L, h + ((size_t)done + i) * 2 * L, (size_t)L * sizeof *z);
        if (st == CLGM_OK) st = decode(m, z, k, lg);
        for (size_t i = 0; st == CLGM_OK && i < (size_t)k * P; i++) {
            double d = 1.0 / (1.0 + exp(-(double)lg[i])) - images01[(size_t)done * P + i];
            se += d * d;
        }
    }
    set_eval(m, 0);
    if (st == CLGM_OK) {
        out->recon = recon / n;
        out->kl = kl / n;
        out->neg_elbo = out->recon + out->kl;
        out->mse = se / ((double)n * P);
    }
    free(h);
    free(z);
    free(eps);
    free(lg);
    return st;
}

clgm_status gmx_vae_iw_nll(gm_model *m, const float *images01, int n, int k, uint64_t seed,
                           double *nll)
{
    NN_TRY(check_vae(m, n));
    if (k < 1) return clgm_fail(m->ctx, CLGM_ERR_INVALID_ARG, "IW estimate with k = %d samples", k);
    int L = m->latent, B = m->batch;
    size_t P = (size_t)m->img_c * m->img_h * m->img_w;
    float *h = malloc((size_t)n * 2 * L * sizeof *h), *z = malloc((size_t)B * L * sizeof *z);
    float *eps = malloc((size_t)B * L * sizeof *eps), *lg = malloc((size_t)B * P * sizeof *lg);
    double *lw = malloc((size_t)k * sizeof *lw);
    clgm_status st = (!h || !z || !eps || !lg || !lw)
        ? clgm_fail(m->ctx, CLGM_ERR_OUT_OF_MEMORY, "host allocation failed") : CLGM_OK;
    set_eval(m, 1);
    if (st == CLGM_OK) st = encode_all(m, images01, n, h);
    uint64_t off = 0;
    double total = 0;
    for (int i = 0; i < n && st == CLGM_OK; i++) {
        const float *hi = h + (size_t)i * 2 * L;
        const float *xi = images01 + (size_t)i * P;
        for (int done = 0; done < k && st == CLGM_OK; done += B) {
            int c = k - done < B ? k - done : B;
            op_rng_normal_host((size_t)c * L, seed, off, 0.0f, 1.0f, eps);
            off += op_rng_span((size_t)c * L);
            /* log p(z) - log q(z|x); the 2 pi terms cancel */
            for (int j = 0; j < c; j++) {
                double lpq = 0;
                for (int l = 0; l < L; l++) {
                    double e = eps[(size_t)j * L + l], lv = hi[L + l];
                    double zz = hi[l] + e * exp(0.5 * lv);
                    z[(size_t)j * L + l] = (float)zz;
                    lpq += -0.5 * zz * zz + 0.5 * e * e + 0.5 * lv;
                }
                lw[done + j] = lpq;
            }
            st = decode(m, z, c, lg);
            for (int j = 0; st == CLGM_OK && j < c; j++)
                lw[done + j] -= bce_sum(lg + (size_t)j * P, xi, P);
        }
        total += -(gmx_logsumexp(lw, k) - log((double)k));
    }
    set_eval(m, 0);
    if (st == CLGM_OK) *nll = total / n;
    free(h);
    free(z);
    free(eps);
    free(lg);
    free(lw);
    return st;
}
