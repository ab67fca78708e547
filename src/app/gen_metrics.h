/* The math of `clgm eval`, on the host in double precision (no OpenCL):
 * Fréchet distance between Gaussians fitted to features (FCD when the
 * features come from the classifier's penultimate layer), the Inception
 * Score of class probabilities, the KL between class histograms, improved
 * precision and recall (Kynkäänniemi et al. 2019), and log-sum-exp for the
 * importance-weighted likelihood. Symmetric eigen-decompositions use LAPACK
 * (LAPACKE_dsyevd). */
#ifndef CLGM_APP_GEN_METRICS_H
#define CLGM_APP_GEN_METRICS_H

#include <stddef.h>

#include "clgm/clgm.h"
#include "models/gm.h"

/* A Gaussian fitted to n feature vectors of size d: mean and the unbiased
 * covariance (divisor n - 1, as numpy.cov). */
typedef struct gmx_gauss {
    int d;
    double *mu;   /* d */
    double *cov;  /* d x d, row-major */
} gmx_gauss;

/* feat: (n, d) row-major floats, n >= 2. */
clgm_status gmx_gauss_fit(const float *feat, int n, int d, gmx_gauss *out);
void gmx_gauss_free(gmx_gauss *g);

/* Fréchet distance |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2),
 * with symmetric square roots (eigenvalues clamped at 0), so it stays real.
 * CLGM_ERR_NUMERIC (message in err) when LAPACK fails. */
clgm_status gmx_frechet(const gmx_gauss *a, const gmx_gauss *b, double *fd, char *err,
                        size_t errlen);

/* probs: (n, K) rows summing to 1. exp(mean_i KL(p(y|x_i) || p(y))), p(y)
 * the mean row (one split over all n). 1 for identical rows, K for
 * confident predictions spread evenly over K classes. */
double gmx_inception_score(const double *probs, int n, int K);

/* KL(p || q) of two count histograms over K classes (normalized here).
 * Classes where p is 0 add nothing; +inf when q is 0 where p is not. */
double gmx_hist_kl(const double *p_counts, const double *q_counts, int K);

/* Improved precision and recall with k nearest neighbours: the manifold of a
 * set is the union of balls around its points, of radius the distance to the
 * point's k-th nearest neighbour within the set. Precision: the fraction of
 * fake points inside the real manifold; recall: the fraction of real points
 * inside the fake manifold. Euclidean distances, computed blockwise in
 * O((nr + nf)^2 d) without storing the distance matrix. */
clgm_status gmx_precision_recall(const float *real, int nr, const float *fake, int nf, int d,
                                 int k, double *precision, double *recall);

/* log(sum_i exp(v_i)) with the maximum subtracted (stable). -inf for n = 0. */
double gmx_logsumexp(const double *v, int n);

/* ---- VAE likelihoods (encoder m->E and decoder m->G in eval mode) ----
 * Bernoulli decoder on logits (log p(x|z) = -sum BCE(logits, x), the training
 * loss), prior N(0, I), posterior N(mu, exp(logvar)). Per image, in nats. */
typedef struct gmx_vae_stats {
    double neg_elbo;   /* recon + kl */
    double recon;      /* -log p(x|z), z one posterior sample */
    double kl;         /* KL(q(z|x) || p(z)), closed form */
    double mse;        /* mean squared error per pixel of sigmoid(dec(mu)) vs x */
} gmx_vae_stats;

/* Averages over n images (n, C, H, W) in [0, 1]; posterior noise from the
 * Philox stream (seed, 0). */
clgm_status gmx_vae_elbo(gm_model *m, const float *images01, int n, uint64_t seed,
                         gmx_vae_stats *out);
/* Importance-weighted NLL estimate, averaged over n images: per image
 * -(logsumexp_j [log p(x|z_j) + log p(z_j) - log q(z_j|x)] - log k) with
 * z_j ~ q(z|x), j = 1..k. An upper bound on -log p(x) that tightens with k;
 * k = 1 is a single-sample negative ELBO. */
clgm_status gmx_vae_iw_nll(gm_model *m, const float *images01, int n, int k, uint64_t seed,
                           double *nll);

#endif
