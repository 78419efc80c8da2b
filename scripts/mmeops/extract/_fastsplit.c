/* The per-row work of extract_split, in C: the one loop in mmeops that touches every byte
 * of a dataset. Optional: setup.py builds it when a C compiler is there, and extract_split
 * falls back to the same operations in Python (byte-identical output, tested) when it is not.
 *
 * Both take "plain" CSV only: lines of comma-separated values where no value holds a comma,
 * quote or line break (extract.layout checks the column types before choosing this path).
 * They write into buffers the caller owns and reuses: no allocation per call, so the split
 * process's memory stays flat (and its kernel time low: fresh pages cost page faults).
 *
 *   reorder(data, ncols, order, out, binary) -> (consumed, written, rows, missing, odd)
 *       each complete line's fields `order` (indices), joined by commas, into `out` (at
 *       least 4 times as long as `data`: an empty feature becomes `nan`); a partial last
 *       line is left (`consumed` stops before it). `missing` counts lines whose first
 *       selected field (the target) is empty: NULL. An empty feature is written `nan`
 *       (split.missing_as_nan says why). `odd` is 1 when a selected field holds a byte
 *       outside scan.CLEAN, or, with `binary`, a target other than 0 or 1 (scan.odd's
 *       test, made here on the output while it is in cache rather than by Python).
 *   route(data, labels, out0, out1, out2) -> (consumed, written0, written1, written2)
 *       the first len(labels) lines, each to the output labels[i] (0, 1 or 2) names.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Does `out` (the output lines) hold a byte outside scan.CLEAN, or `n` or `a`? The output,
 * not the fields as they are copied: one pass, 16 bytes at a time (GCC/Clang vectors),
 * after the copies, is several times faster than a byte loop inside them. `n` and `a` are
 * the `nan` written for an empty feature; no number PostgreSQL prints holds either alone
 * (NaN has `N`, Infinity `I`, a large exponent `+`), so the answer is scan.odd's on the
 * fields themselves. */
typedef signed char s8x16 __attribute__((vector_size(16)));

static int
unclean(const unsigned char *p, Py_ssize_t n)
{
    /* Signed bytes, 16 at a time: SSE2's compares (a byte of 128 or more is negative and
     * fails the digit test). */
    s8x16 bad = {0};
    Py_ssize_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s8x16 c;
        memcpy(&c, p + i, 16);
        bad |= ~(((c >= '0') & (c <= '9')) | (c == '.') | (c == ',') | (c == '-') |
                 (c == 'e') | (c == 'n') | (c == 'a') | (c == '\n'));
    }
    long long lanes[2];
    memcpy(lanes, &bad, 16);
    if (lanes[0] | lanes[1])
        return 1;
    for (; i < n; i++) {
        unsigned char c = p[i];
        if (!((c >= '0' && c <= '9') || c == '.' || c == ',' || c == '-' || c == 'e' ||
              c == 'n' || c == 'a' || c == '\n'))
            return 1;
    }
    return 0;
}

static int
read_order(PyObject *seq, Py_ssize_t ncols, Py_ssize_t **order, Py_ssize_t *n)
{
    PyObject *fast = PySequence_Fast(seq, "order must be a sequence of column indices");
    if (fast == NULL)
        return -1;
    *n = PySequence_Fast_GET_SIZE(fast);
    if (*n < 1) {
        Py_DECREF(fast);
        PyErr_SetString(PyExc_ValueError, "order is empty");
        return -1;
    }
    *order = PyMem_New(Py_ssize_t, *n);
    if (*order == NULL) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < *n; i++) {
        Py_ssize_t k = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(fast, i));
        if (k == -1 && PyErr_Occurred()) {
            PyMem_Free(*order);
            Py_DECREF(fast);
            return -1;
        }
        if (k < 0 || k >= ncols) {
            PyMem_Free(*order);
            Py_DECREF(fast);
            PyErr_Format(PyExc_ValueError, "column %zd is not in 0..%zd", k, ncols - 1);
            return -1;
        }
        (*order)[i] = k;
    }
    Py_DECREF(fast);
    return 0;
}

static PyObject *
reorder(PyObject *self, PyObject *args)
{
    Py_buffer in, out;
    Py_ssize_t ncols, nsel, *order = NULL;
    PyObject *order_obj, *result = NULL;
    const char **start = NULL, **stop = NULL;
    int binary = 0;

    if (!PyArg_ParseTuple(args, "y*nOw*p", &in, &ncols, &order_obj, &out, &binary))
        return NULL;
    if (ncols < 1) {
        PyErr_SetString(PyExc_ValueError, "ncols must be positive");
        goto done;
    }
    /* A line of n fields has at least n bytes (n - 1 commas and its line break), and its
     * output at most its own bytes plus 3 per field (an empty one becomes `nan`): 4 times
     * the input always has room. */
    if (out.len / 4 < in.len) {
        PyErr_SetString(PyExc_ValueError, "the output buffer is under 4 times the input");
        goto done;
    }
    if (read_order(order_obj, ncols, &order, &nsel) < 0)
        goto done;
    start = PyMem_New(const char *, ncols);
    stop = PyMem_New(const char *, ncols);
    if (start == NULL || stop == NULL) {
        PyErr_NoMemory();
        goto done;
    }

    char *o = out.buf;
    const char *p = in.buf, *end = p + in.len;
    Py_ssize_t rows = 0, missing = 0, fields = 0;
    int bad = 0;
    unsigned char odd = 0;

    Py_BEGIN_ALLOW_THREADS
    for (;;) {
        const char *line_end = memchr(p, '\n', end - p);
        if (line_end == NULL)
            break; /* a partial line: the caller keeps it for the next call */
        const char *f = p;
        fields = 0;
        for (;;) {
            const char *comma = memchr(f, ',', line_end - f);
            if (fields < ncols) {
                start[fields] = f;
                stop[fields] = comma ? comma : line_end;
            }
            fields++;
            if (comma == NULL)
                break;
            f = comma + 1;
        }
        if (fields != ncols) {
            bad = 1;
            break;
        }
        for (Py_ssize_t j = 0; j < nsel; j++) {
            Py_ssize_t k = order[j], len = stop[k] - start[k];
            if (j) {
                *o++ = ',';
                if (len == 0) {
                    memcpy(o, "nan", 3);
                    o += 3;
                    continue;
                }
            }
            memcpy(o, start[k], len);
            o += len;
        }
        Py_ssize_t tlen = stop[order[0]] - start[order[0]];
        missing += tlen == 0;
        if (binary && !odd)
            odd = tlen != 1 || (start[order[0]][0] != '0' && start[order[0]][0] != '1');
        *o++ = '\n';
        rows++;
        p = line_end + 1;
    }
    if (!odd)
        odd = unclean((const unsigned char *)out.buf, o - (char *)out.buf);
    Py_END_ALLOW_THREADS

    if (bad) {
        PyErr_Format(PyExc_ValueError, "line %zd has %zd fields, expected %zd", rows + 1,
                     fields, ncols);
        goto done;
    }
    result = Py_BuildValue("nnnnO", (Py_ssize_t)(p - (const char *)in.buf),
                           (Py_ssize_t)(o - (char *)out.buf), rows, missing,
                           odd ? Py_True : Py_False);

done:
    PyMem_Free(order);
    PyMem_Free(start);
    PyMem_Free(stop);
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    return result;
}

static PyObject *
route(PyObject *self, PyObject *args)
{
    Py_buffer in, labels, outs[3];
    PyObject *result = NULL;

    if (!PyArg_ParseTuple(args, "y*y*w*w*w*", &in, &labels, &outs[0], &outs[1], &outs[2]))
        return NULL;

    char *o[3];
    for (int s = 0; s < 3; s++)
        o[s] = outs[s].buf;
    const unsigned char *lab = labels.buf;
    const char *p = in.buf, *end = p + in.len;
    Py_ssize_t i = 0;
    int problem = 0; /* 1: a label that is not 0, 1 or 2; 2: an output too short */

    Py_BEGIN_ALLOW_THREADS
    for (; i < labels.len; i++) {
        const char *nl = memchr(p, '\n', end - p);
        if (nl == NULL)
            break;
        Py_ssize_t len = nl + 1 - p, s = lab[i];
        if (s > 2) {
            problem = 1;
            break;
        }
        if (len > (char *)outs[s].buf + outs[s].len - o[s]) {
            problem = 2;
            break;
        }
        memcpy(o[s], p, len);
        o[s] += len;
        p = nl + 1;
    }
    Py_END_ALLOW_THREADS

    if (problem == 1)
        PyErr_Format(PyExc_ValueError, "label %d of line %zd is not 0, 1 or 2", lab[i], i + 1);
    else if (problem == 2)
        PyErr_Format(PyExc_ValueError, "output %d is too short", lab[i]);
    else if (i < labels.len)
        PyErr_Format(PyExc_ValueError, "%zd labels for %zd lines", labels.len, i);
    else
        result = Py_BuildValue("nnnn", (Py_ssize_t)(p - (const char *)in.buf),
                               (Py_ssize_t)(o[0] - (char *)outs[0].buf),
                               (Py_ssize_t)(o[1] - (char *)outs[1].buf),
                               (Py_ssize_t)(o[2] - (char *)outs[2].buf));
    PyBuffer_Release(&in);
    PyBuffer_Release(&labels);
    for (int s = 0; s < 3; s++)
        PyBuffer_Release(&outs[s]);
    return result;
}

static PyMethodDef methods[] = {
    {"reorder", reorder, METH_VARARGS,
     "reorder(data, ncols, order, out, binary) -> (consumed, written, rows, missing, odd)"},
    {"route", route, METH_VARARGS,
     "route(data, labels, out0, out1, out2) -> (consumed, written0, written1, written2)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "mmeops.extract._fastsplit",
    "The per-row loops of extract_split in C (optional; see extract_split).", -1, methods,
};

PyMODINIT_FUNC
PyInit__fastsplit(void)
{
    return PyModule_Create(&module);
}
