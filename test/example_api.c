/* The README's library example: train a VAE for a few steps, sample, save,
 * load. Uses only the public header. Exits 77 without an OpenCL device. */
#include <stdio.h>
#include <stdlib.h>

#include <clgm/clgm.h>

int main(void)
{
    char err[1024];
    clgm_ctx *ctx;
    clgm_status st = clgm_ctx_create(&ctx, NULL, err, sizeof err); /* $CLGM_DEVICE or default */
    if (st == CLGM_ERR_NO_PLATFORM) return 77;
    if (st != CLGM_OK) { fprintf(stderr, "%s\n", err); return 1; }

    clgm_model_options opt = clgm_model_defaults();
    opt.latent = 8;
    clgm_model *vae;
    clgm_data *data;
    if (clgm_model_create(ctx, "vae", &opt, &vae) != CLGM_OK ||
        clgm_data_open("fashion-mnist:test", 1, 28, 28, &data, err, sizeof err) != CLGM_OK) {
        fprintf(stderr, "%s%s\n", clgm_last_error(ctx), err);
        return 1;
    }
    float *batch = malloc(64 * 28 * 28 * sizeof *batch);
    double m[8];
    for (int step = 0; step < 20; step++) {
        clgm_data_get(data, step * 64, 64, batch);
        if (clgm_model_train_step(vae, batch, 64) != CLGM_OK) break;
    }
    if (clgm_model_metrics(vae, m) != CLGM_OK) { fprintf(stderr, "%s\n", clgm_last_error(ctx)); return 1; }
    for (int i = 0; i < clgm_model_metric_count(vae); i++)
        printf("%s %.3f\n", clgm_model_metric_name(vae, i), m[i]);

    float *samples = malloc(16 * 28 * 28 * sizeof *samples);
    st = clgm_model_sample(vae, 16, 42, samples);
    if (st == CLGM_OK) st = clgm_model_save(vae, "example-vae.safetensors");
    clgm_model *again = NULL;
    if (st == CLGM_OK) st = clgm_model_load(ctx, "example-vae.safetensors", &again);
    if (st != CLGM_OK) { fprintf(stderr, "%s\n", clgm_last_error(ctx)); return 1; }

    clgm_model_destroy(again);
    clgm_model_destroy(vae);
    clgm_data_close(data);
    free(batch);
    free(samples);
    clgm_ctx_destroy(ctx);
    return m[0] < 450.0 ? 0 : 1; /* fell from about 545 nats (784 ln 2 + KL) */
}
