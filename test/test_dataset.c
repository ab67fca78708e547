/* Data sets without a device: IDX round trips (plain and gzip), each bad-file
 * message, Fashion-MNIST from the Debian package, image folders (resize,
 * crop, channels, class subfolders, unreadable files) and the shuffle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_image_write.h>

#include "app/dataset.h"
#include "test_util.h"

static char dir[64];

static const char *tmp_path(const char *name)
{
    static char bufs[4][512];
    static int k;
    char *p = bufs[k++ & 3];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

static void be32(unsigned char *b, unsigned v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

/* Opens spec expecting failure with status st and all the given fragments in
 * the one-line message. */
static void expect_error(const char *spec, int c, int h, int w, clgm_status st,
                         const char *frag1, const char *frag2)
{
    ds_dataset *ds = NULL;
    char err[1024] = "";
    clgm_status got = ds_open(spec, c, h, w, &ds, err, sizeof err);
    TU_CHECK(got == st, "%s: status %s, want %s (%s)", spec, clgm_status_str(got),
             clgm_status_str(st), err);
    TU_CHECK(ds == NULL, "%s: no data set on failure", spec);
    TU_CHECK(frag1 == NULL || strstr(err, frag1), "%s: message lacks '%s': %s", spec, frag1, err);
    TU_CHECK(frag2 == NULL || strstr(err, frag2), "%s: message lacks '%s': %s", spec, frag2, err);
    TU_CHECK(strchr(err, '\n') == NULL && err[0], "%s: one nonempty line: %s", spec, err);
    ds_close(ds);
}

static void test_idx_round_trip(const char *suffix)
{
    enum { N = 7, H = 5, W = 3 };
    float img[N * H * W];
    unsigned char bytes[N * H * W];
    int labels[N];
    uint64_t seed = 42;
    tu_rand_fill(img, N * H * W, 0.0f, 1.0f, &seed);
    for (int i = 0; i < N * H * W; i++) bytes[i] = (unsigned char)(img[i] * 255.0f + 0.5f);
    for (int i = 0; i < N; i++) labels[i] = (i * 3) % 5;

    char name[128], lname[128], err[512];
    snprintf(name, sizeof name, "rt-images-idx3-ubyte%s", suffix);
    snprintf(lname, sizeof lname, "rt-labels-idx1-ubyte%s", suffix);
    char path[512];
    snprintf(path, sizeof path, "%s", tmp_path(name));
    TU_OK(NULL, ds_write_idx(path, N, H, W, img, err, sizeof err));
    TU_OK(NULL, ds_write_idx_labels(tmp_path(lname), N, labels, err, sizeof err));

    /* The ".gz" name really compresses; the plain one is raw IDX. */
    unsigned char head[4] = {0};
    FILE *f = fopen(path, "rb");
    TU_CHECK(f && fread(head, 1, 4, f) == 4, "read back %s", path);
    if (f) fclose(f);
    if (*suffix)
        TU_CHECK(head[0] == 0x1f && head[1] == 0x8b, "%s is gzip", path);
    else
        TU_CHECK(head[0] == 0 && head[1] == 0 && head[2] == 8 && head[3] == 3, "%s is idx3", path);

    ds_dataset *ds = NULL;
    clgm_status st = ds_open(path, 1, H, W, &ds, err, sizeof err);
    TU_CHECK(st == CLGM_OK, "open %s: %s", path, err);
    if (st != CLGM_OK) return;
    int c, h, w;
    ds_shape(ds, &c, &h, &w);
    TU_CHECK(ds_count(ds) == N && c == 1 && h == H && w == W, "shape %d,%d,%d,%d", ds_count(ds),
             c, h, w);
    int exact = 1;
    for (int i = 0; i < N * H * W; i++)
        exact &= ds_images(ds)[i] == bytes[i] * (1.0f / 255.0f);
    TU_CHECK(exact, "%s: pixels survive the round trip exactly (as bytes/255)", path);
    int lab_ok = 1;
    for (int i = 0; i < N; i++) lab_ok &= ds_label(ds, i) == labels[i];
    TU_CHECK(lab_ok, "%s: labels read from the file beside it", path);
    TU_CHECK(ds_num_classes(ds) == 5, "5 classes, got %d", ds_num_classes(ds));
    TU_CHECK(ds_label(ds, N) == -1 && ds_label(ds, -1) == -1, "label out of range is -1");

    /* Gather. */
    int idx[3] = {6, 0, 3}, got_lab[3];
    float batch[3 * H * W];
    TU_CHECK(ds_batch(ds, idx, 3, batch, got_lab) == CLGM_OK, "batch");
    TU_CHECK(memcmp(batch, ds_images(ds) + 6 * H * W, sizeof(float) * H * W) == 0 &&
             memcmp(batch + 2 * H * W, ds_images(ds) + 3 * H * W, sizeof(float) * H * W) == 0,
             "batch gathers the right images");
    TU_CHECK(got_lab[0] == labels[6] && got_lab[1] == labels[0] && got_lab[2] == labels[3],
             "batch labels");
    int bad[1] = {N};
    TU_CHECK(ds_batch(ds, bad, 1, batch, NULL) == CLGM_ERR_INVALID_ARG, "index out of range");
    ds_close(ds);

    /* Without the labels file the set has no labels. */
    unlink(tmp_path(lname));
    st = ds_open(path, 0, 0, 0, &ds, err, sizeof err);
    TU_CHECK(st == CLGM_OK && ds_label(ds, 0) == -1 && ds_num_classes(ds) == 0,
             "no labels file -> labels -1: %s", err);
    ds_close(ds);
}

static void test_idx_errors(void)
{
    char err[512];
    unsigned char buf[64];

    /* Wrong magic. */
    memset(buf, 0, sizeof buf);
    be32(buf, 0x00000804);
    be32(buf + 4, 1);
    be32(buf + 8, 2);
    be32(buf + 12, 2);
    write_bytes(tmp_path("magic-images-idx3-ubyte"), buf, 20);
    expect_error(tmp_path("magic-images-idx3-ubyte"), 0, 0, 0, CLGM_ERR_FORMAT, "wrong magic",
                 "magic-images-idx3-ubyte");
    write_bytes(tmp_path("text.png.idx"), "hello world, not idx", 20);
    expect_error(tmp_path("text.png.idx"), 0, 0, 0, CLGM_ERR_FORMAT, "wrong magic", "0x00000803");

    /* A labels file where images are expected. */
    int lab[3] = {1, 2, 3};
    TU_OK(NULL, ds_write_idx_labels(tmp_path("only-labels.gz"), 3, lab, err, sizeof err));
    expect_error(tmp_path("only-labels.gz"), 0, 0, 0, CLGM_ERR_FORMAT, "IDX labels file",
                 "expected images");

    /* Truncated plain file: header says 10 images of 4x4, 50 bytes follow. */
    memset(buf, 0, sizeof buf);
    be32(buf, 0x00000803);
    be32(buf + 4, 10);
    be32(buf + 8, 4);
    be32(buf + 12, 4);
    write_bytes(tmp_path("short-images-idx3-ubyte"), buf, 16 + 48);
    expect_error(tmp_path("short-images-idx3-ubyte"), 0, 0, 0, CLGM_ERR_FORMAT, "truncated",
                 "10 images of 4x4");
    write_bytes(tmp_path("hdr-images-idx3-ubyte"), buf, 9);
    expect_error(tmp_path("hdr-images-idx3-ubyte"), 0, 0, 0, CLGM_ERR_FORMAT, "truncated",
                 "header");
    write_bytes(tmp_path("empty-images-idx3-ubyte"), buf, 0);
    expect_error(tmp_path("empty-images-idx3-ubyte"), 0, 0, 0, CLGM_ERR_FORMAT, "truncated",
                 "empty");

    /* Truncated gzip: a valid stream cut in half. */
    enum { N = 50, S = 16 };
    float *img = malloc(sizeof(float) * N * S * S);
    uint64_t seed = 7;
    tu_rand_fill(img, N * S * S, 0, 1, &seed);
    TU_OK(NULL, ds_write_idx(tmp_path("cut-images-idx3-ubyte.gz"), N, S, S, img, err, sizeof err));
    free(img);
    struct stat sb;
    if (stat(tmp_path("cut-images-idx3-ubyte.gz"), &sb) == 0)
        TU_CHECK(truncate(tmp_path("cut-images-idx3-ubyte.gz"), sb.st_size / 2) == 0, "truncate");
    expect_error(tmp_path("cut-images-idx3-ubyte.gz"), 0, 0, 0, CLGM_ERR_FORMAT, "truncated",
                 "50 images of 16x16");

    /* Image / label count mismatch. */
    float one[7 * 2 * 2] = {0};
    int six[6] = {0, 1, 2, 3, 4, 5};
    TU_OK(NULL, ds_write_idx(tmp_path("mm-images-idx3-ubyte"), 7, 2, 2, one, err, sizeof err));
    TU_OK(NULL, ds_write_idx_labels(tmp_path("mm-labels-idx1-ubyte"), 6, six, err, sizeof err));
    expect_error(tmp_path("mm-images-idx3-ubyte"), 0, 0, 0, CLGM_ERR_FORMAT, "holds 6 labels",
                 "holds 7 images");

    /* Zero images. */
    memset(buf, 0, sizeof buf);
    be32(buf, 0x00000803);
    be32(buf + 8, 4);
    be32(buf + 12, 4);
    write_bytes(tmp_path("zero-images-idx3-ubyte"), buf, 16);
    expect_error(tmp_path("zero-images-idx3-ubyte"), 0, 0, 0, CLGM_ERR_FORMAT, "no images",
                 "zero-images-idx3-ubyte");

    /* Missing file. */
    expect_error(tmp_path("nope-images-idx3-ubyte.gz"), 0, 0, 0, CLGM_ERR_IO,
                 "no such file or folder", "nope-images-idx3-ubyte.gz");
    expect_error("no-such-dataset:test", 0, 0, 0, CLGM_ERR_IO, "no-such-dataset",
                 "no such file");

    /* Dims differ from the model's: the message says what the model needs. */
    expect_error(tmp_path("mm-images-idx3-ubyte"), 1, 32, 32, CLGM_ERR_SHAPE, "2x2",
                 "model needs 32x32");
    expect_error(tmp_path("mm-images-idx3-ubyte"), 3, 2, 2, CLGM_ERR_SHAPE, "1 channel",
                 "3 channels");
}

static void test_fashion_mnist(void)
{
    char err[1024];
    ds_dataset *ds = NULL;
    unsetenv("CLGM_DATA_DIR");
    clgm_status st = ds_open("fashion-mnist:test", 1, 28, 28, &ds, err, sizeof err);
    if (st == CLGM_ERR_IO && strstr(err, "apt-get install dataset-fashion-mnist")) {
        printf("SKIP part: Fashion-MNIST not installed (%s)\n", err);
    } else {
        TU_CHECK(st == CLGM_OK, "fashion-mnist:test: %s", err);
        if (st == CLGM_OK) {
            TU_CHECK(ds_count(ds) == 10000, "t10k has 10000 images, got %d", ds_count(ds));
            TU_CHECK(ds_num_classes(ds) == 10, "10 classes, got %d", ds_num_classes(ds));
            int counts[10] = {0};
            for (int i = 0; i < ds_count(ds); i++) counts[ds_label(ds, i)]++;
            int balanced = 1;
            for (int k = 0; k < 10; k++) balanced &= counts[k] == 1000;
            TU_CHECK(balanced, "t10k has 1000 images per class");
            double sum = 0, lo = 1, hi = 0;
            const float *x = ds_images(ds);
            size_t n = (size_t)ds_count(ds) * 28 * 28;
            for (size_t i = 0; i < n; i++) {
                sum += x[i];
                lo = x[i] < lo ? x[i] : lo;
                hi = x[i] > hi ? x[i] : hi;
            }
            /* Known statistic of the t10k images: mean 0.2868 of [0,1]. */
            TU_CHECK(lo == 0 && hi == 1 && sum / n > 0.28 && sum / n < 0.29,
                     "pixel range [%g,%g] mean %g", lo, hi, sum / n);
        }
        ds_close(ds);
        ds = NULL;
        expect_error("fashion-mnist", 3, 32, 32, CLGM_ERR_SHAPE, "train-images-idx3-ubyte.gz",
                     "model needs 32x32 with 3 channels");
    }

    /* CLGM_DATA_DIR points at another folder holding the files. */
    char sub[512];
    snprintf(sub, sizeof sub, "%s", tmp_path("data"));
    mkdir(sub, 0755);
    float img[3 * 4 * 4] = {0};
    char path[600];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", sub);
    TU_OK(NULL, ds_write_idx(path, 3, 4, 4, img, err, sizeof err));
    setenv("CLGM_DATA_DIR", sub, 1);
    st = ds_open("fashion-mnist:test", 0, 0, 0, &ds, err, sizeof err);
    TU_CHECK(st == CLGM_OK && ds_count(ds) == 3, "CLGM_DATA_DIR override: %s", err);
    ds_close(ds);
    expect_error("fashion-mnist", 0, 0, 0, CLGM_ERR_IO, "CLGM_DATA_DIR", "train-images-idx3");
    unsetenv("CLGM_DATA_DIR");

    /* A folder holding IDX files opens them (":test" picks t10k). */
    char spec[600];
    snprintf(spec, sizeof spec, "%s:test", sub);
    st = ds_open(spec, 0, 0, 0, &ds, err, sizeof err);
    TU_CHECK(st == CLGM_OK && ds_count(ds) == 3, "folder:test opens t10k: %s", err);
    ds_close(ds);
}

static void write_png(const char *path, int w, int h, int c, const unsigned char *px)
{
    if (!stbi_write_png(path, w, h, c, px, w * c)) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static void test_image_folder(void)
{
    char err[1024];
    char img_dir[512];
    snprintf(img_dir, sizeof img_dir, "%s", tmp_path("imgs"));
    mkdir(img_dir, 0755);
    char p[600];

    /* a.png: 8x6 RGB, uniform (200,100,50) except black first and last
     * columns, which the centre crop to a square (6x6) removes. */
    unsigned char a[6 * 8 * 3];
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 8; x++) {
            int edge = x == 0 || x == 7;
            a[(y * 8 + x) * 3 + 0] = edge ? 0 : 200;
            a[(y * 8 + x) * 3 + 1] = edge ? 0 : 100;
            a[(y * 8 + x) * 3 + 2] = edge ? 0 : 50;
        }
    snprintf(p, sizeof p, "%s/a.png", img_dir);
    write_png(p, 8, 6, 3, a);
    /* b.png: 4x4 grey ramp, already the target size (copied exactly). */
    unsigned char b[16];
    for (int i = 0; i < 16; i++) b[i] = (unsigned char)(i * 17);
    snprintf(p, sizeof p, "%s/b.png", img_dir);
    write_png(p, 4, 4, 1, b);
    snprintf(p, sizeof p, "%s/notes.txt", img_dir);
    write_bytes(p, "not an image", 12);

    ds_dataset *ds = NULL;
    clgm_status st = ds_open(img_dir, 3, 4, 4, &ds, err, sizeof err);
    TU_CHECK(st == CLGM_OK, "open image folder: %s", err);
    if (st == CLGM_OK) {
        TU_CHECK(ds_count(ds) == 2, "2 images (notes.txt skipped), got %d", ds_count(ds));
        const float *x = ds_images(ds);
        /* Image 0 = a.png (sorted order): uniform after the crop; resampling
         * of a constant stays within 1/255. */
        double worst = 0;
        const float want[3] = {200 / 255.0f, 100 / 255.0f, 50 / 255.0f};
        for (int ch = 0; ch < 3; ch++)
            for (int i = 0; i < 16; i++) {
                double d = x[ch * 16 + i] - want[ch];
                worst = d < 0 ? (-d > worst ? -d : worst) : (d > worst ? d : worst);
            }
        TU_CHECK(worst <= 1.0 / 255 + 1e-6, "a.png cropped+resized: worst error %g", worst);
        /* Image 1 = b.png: grey replicated to RGB, exact. */
        int exact = 1;
        for (int ch = 0; ch < 3; ch++)
            for (int i = 0; i < 16; i++) exact &= x[48 + ch * 16 + i] == b[i] * (1.0f / 255.0f);
        TU_CHECK(exact, "b.png grey -> RGB exact");
        TU_CHECK(ds_label(ds, 0) == -1, "flat folder has no labels");
    }
    ds_close(ds);

    /* Shape from the first image when the model does not fix it. */
    st = ds_open(img_dir, 0, 0, 0, &ds, err, sizeof err);
    int c = 0, h = 0, w = 0;
    if (st == CLGM_OK) ds_shape(ds, &c, &h, &w);
    TU_CHECK(st == CLGM_OK && c == 3 && h == 6 && w == 8, "shape from a.png: %d %d %d (%s)", c,
             h, w, err);
    ds_close(ds);
    /* Grey, downsized. */
    st = ds_open(img_dir, 1, 2, 3, &ds, err, sizeof err);
    if (st == CLGM_OK) ds_shape(ds, &c, &h, &w);
    TU_CHECK(st == CLGM_OK && c == 1 && h == 2 && w == 3 && ds_count(ds) == 2,
             "grey 2x3: %d %d %d (%s)", c, h, w, err);
    ds_close(ds);
    expect_error(img_dir, 2, 4, 4, CLGM_ERR_SHAPE, "1 (grey) or 3 (RGB)", "needs 2");

    /* An unreadable image is named. */
    snprintf(p, sizeof p, "%s/c.png", img_dir);
    write_bytes(p, "\x89PNG garbage garbage", 20);
    expect_error(img_dir, 3, 4, 4, CLGM_ERR_FORMAT, "c.png", "cannot read image");

    /* Class subfolders give labels in sorted folder order. */
    char cls[512];
    snprintf(cls, sizeof cls, "%s", tmp_path("classes"));
    mkdir(cls, 0755);
    /* "cat-2" sorts before "cat" as a path ("cat-2/" < "cat/") but after it
     * as a folder name: labels follow folder names. */
    const char *sub[4] = {"dog", "cat", "empty", "cat-2"};
    for (int k = 0; k < 4; k++) {
        snprintf(p, sizeof p, "%s/%s", cls, sub[k]);
        mkdir(p, 0755);
    }
    /* Each class's images are uniform grey 10 * (label + 1), to check that
     * image and label stay paired. */
    unsigned char g[3][16];
    for (int k = 0; k < 3; k++) memset(g[k], 10 * (k + 1), 16);
    snprintf(p, sizeof p, "%s/dog/1.png", cls);
    write_png(p, 4, 4, 1, g[2]);
    snprintf(p, sizeof p, "%s/dog/0.png", cls);
    write_png(p, 4, 4, 1, g[2]);
    snprintf(p, sizeof p, "%s/cat/z.bmp", cls);
    if (!stbi_write_bmp(p, 4, 4, 1, g[0])) TU_CHECK(0, "write bmp");
    snprintf(p, sizeof p, "%s/cat-2/a.png", cls);
    write_png(p, 4, 4, 1, g[1]);
    st = ds_open(cls, 1, 4, 4, &ds, err, sizeof err);
    TU_CHECK(st == CLGM_OK && ds_count(ds) == 4 && ds_num_classes(ds) == 3 &&
             ds_label(ds, 0) == 0 && ds_label(ds, 1) == 1 && ds_label(ds, 2) == 2 &&
             ds_label(ds, 3) == 2, "class folders: cat=0 cat-2=1 dog=2 (%s)", err);
    for (int i = 0; st == CLGM_OK && i < ds_count(ds); i++)
        TU_CHECK(ds_images(ds)[i * 16] == 10 * (ds_label(ds, i) + 1) * (1.0f / 255.0f),
                 "image %d is from the folder of its label %d", i, ds_label(ds, i));
    ds_close(ds);

    snprintf(p, sizeof p, "%s/empty", cls);
    expect_error(p, 1, 4, 4, CLGM_ERR_FORMAT, "no images", "empty");
}

static void test_shuffle(void)
{
    enum { N = 1000 };
    int *a = malloc(sizeof(int) * N), *b = malloc(sizeof(int) * N), *seen = calloc(N, sizeof(int));
    ds_shuffle(N, 1234, 5, a);
    int perm = 1, moved = 0;
    for (int i = 0; i < N; i++) {
        if (a[i] < 0 || a[i] >= N || seen[a[i]]++) perm = 0;
        moved += a[i] != i;
    }
    TU_CHECK(perm, "a permutation");
    TU_CHECK(moved > N * 9 / 10, "shuffled: %d of %d moved", moved, N);
    ds_shuffle(N, 1234, 5, b);
    TU_CHECK(memcmp(a, b, sizeof(int) * N) == 0, "same (seed, epoch) -> same order");
    ds_shuffle(N, 1234, 6, b);
    TU_CHECK(memcmp(a, b, sizeof(int) * N) != 0, "another epoch -> another order");
    ds_shuffle(N, 1235, 5, b);
    TU_CHECK(memcmp(a, b, sizeof(int) * N) != 0, "another seed -> another order");
    /* Pinned values: an epoch's order must not change between versions, or
     * resuming an old checkpoint would see other batches. */
    int small[5];
    ds_shuffle(5, 1, 0, small);
    TU_CHECK(small[0] == 4 && small[1] == 2 && small[2] == 0 && small[3] == 1 && small[4] == 3,
             "pinned order of (5, seed 1, epoch 0): %d %d %d %d %d", small[0], small[1],
             small[2], small[3], small[4]);
    ds_shuffle(1, 9, 9, small);
    TU_CHECK(small[0] == 0, "n = 1");
    ds_shuffle(0, 9, 9, small);

    /* Uniform over the 24 orders of 4 items: 24000 epochs, each order
     * expected 1000 times (sd ~31); a 6-sd band is robust yet catches the
     * classic biased shuffles (which are off by 20% or more). */
    int counts[256] = {0};
    for (int e = 0; e < 24000; e++) {
        int q[4];
        ds_shuffle(4, 77, (uint64_t)e, q);
        counts[q[0] * 64 + q[1] * 16 + q[2] * 4 + q[3]]++;
    }
    int distinct = 0, lo = 1 << 30, hi = 0;
    for (int k = 0; k < 256; k++)
        if (counts[k]) {
            distinct++;
            lo = counts[k] < lo ? counts[k] : lo;
            hi = counts[k] > hi ? counts[k] : hi;
        }
    TU_CHECK(distinct == 24 && lo > 1000 - 186 && hi < 1000 + 186,
             "uniform: %d orders, counts %d..%d", distinct, lo, hi);
    free(a);
    free(b);
    free(seen);
}

static void test_write_errors(void)
{
    char err[512];
    float img[4] = {0};
    clgm_status st = ds_write_idx("/nonexistent-dir/x-images-idx3-ubyte.gz", 1, 2, 2, img, err,
                                  sizeof err);
    TU_CHECK(st == CLGM_ERR_IO && strstr(err, "/nonexistent-dir/x-images-idx3-ubyte.gz") &&
             strstr(err, "cannot write"), "unwritable: %s", err);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/clgm_test_dataset_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_idx_round_trip("");
    test_idx_round_trip(".gz");
    test_idx_errors();
    test_fashion_mnist();
    test_image_folder();
    test_shuffle();
    test_write_errors();
    if (!tu_failures) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    return tu_finish("test_dataset");
}
