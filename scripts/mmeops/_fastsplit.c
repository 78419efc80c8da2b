/* The per-row work of extract_split, in C: the one loop in mmeops that touches every byte
 * of a dataset. Optional: setup.py builds it when a C compiler is there, and extract_split
 * falls back to the same operations in Python (byte-identical output, tested) when it is not.
 *
 * Both functions take "plain" CSV only: lines of comma-separated values where no value holds
 * a comma, quote or line break (extract.layout checks the column types before choosing this
 * path), each line ending in '\n'.
 *
 *   reorder(data, ncols, order) -> (bytes, rows, missing)
 *       each line's fields `order` (indices), joined by commas; `missing` counts lines whose
 *       first selected field (the target) is empty, i.e. NULL in the warehouse.
 *   route(data, labels) -> (bytes, bytes, bytes, consumed)
 *       the first len(labels) lines, each to output labels[i] (0, 1 or 2); `consumed` is the
 *       byte offset where the remaining lines start.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

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
    Py_buffer in;
    Py_ssize_t ncols, nsel, *order = NULL;
    PyObject *order_obj, *out = NULL;
    const char **start = NULL, **stop = NULL;

    if (!PyArg_ParseTuple(args, "y*nO", &in, &ncols, &order_obj))
        return NULL;
    if (ncols < 1) {
        PyErr_SetString(PyExc_ValueError, "ncols must be positive");
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
    /* A selection of a line's fields with the same separators is never longer than the
     * line, plus one byte when the last line lacks its '\n'. */
    out = PyBytes_FromStringAndSize(NULL, in.len + 1);
    if (out == NULL)
        goto done;

    char *o = PyBytes_AS_STRING(out);
    const char *p = in.buf, *end = p + in.len;
    Py_ssize_t rows = 0, missing = 0, fields = 0;
    int bad = 0;

    Py_BEGIN_ALLOW_THREADS
    while (p < end) {
        const char *line_end = memchr(p, '\n', end - p);
        if (line_end == NULL)
            line_end = end;
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
            if (j)
                *o++ = ',';
            memcpy(o, start[k], len);
            o += len;
        }
        missing += stop[order[0]] == start[order[0]];
        *o++ = '\n';
        rows++;
        p = line_end + 1;
    }
    Py_END_ALLOW_THREADS

    if (bad) {
        PyErr_Format(PyExc_ValueError, "line %zd has %zd fields, expected %zd", rows + 1,
                     fields, ncols);
        Py_CLEAR(out);
        goto done;
    }
    if (_PyBytes_Resize(&out, o - PyBytes_AS_STRING(out)) < 0)
        goto done; /* out is NULL and the error set */
    out = Py_BuildValue("Nnn", out, rows, missing); /* N: the tuple takes our reference */

done:
    PyMem_Free(order);
    PyMem_Free(start);
    PyMem_Free(stop);
    PyBuffer_Release(&in);
    return out;
}

static PyObject *
route(PyObject *self, PyObject *args)
{
    Py_buffer in, labels;
    PyObject *outs[3] = {NULL, NULL, NULL}, *result = NULL;

    if (!PyArg_ParseTuple(args, "y*y*", &in, &labels))
        return NULL;
    for (int s = 0; s < 3; s++) {
        outs[s] = PyBytes_FromStringAndSize(NULL, in.len);
        if (outs[s] == NULL)
            goto done;
    }

    char *o[3];
    for (int s = 0; s < 3; s++)
        o[s] = PyBytes_AS_STRING(outs[s]);
    const unsigned char *lab = labels.buf;
    const char *p = in.buf, *end = p + in.len;
    Py_ssize_t i = 0;
    int bad_label = -1;

    Py_BEGIN_ALLOW_THREADS
    for (; i < labels.len; i++) {
        const char *nl = memchr(p, '\n', end - p);
        if (nl == NULL)
            break;
        if (lab[i] > 2) {
            bad_label = lab[i];
            break;
        }
        memcpy(o[lab[i]], p, nl + 1 - p);
        o[lab[i]] += nl + 1 - p;
        p = nl + 1;
    }
    Py_END_ALLOW_THREADS

    if (bad_label >= 0) {
        PyErr_Format(PyExc_ValueError, "label %d of line %zd is not 0, 1 or 2", bad_label, i + 1);
        goto done;
    }
    if (i < labels.len) {
        PyErr_Format(PyExc_ValueError, "%zd labels for %zd lines", labels.len, i);
        goto done;
    }
    for (int s = 0; s < 3; s++)
        if (_PyBytes_Resize(&outs[s], o[s] - PyBytes_AS_STRING(outs[s])) < 0)
            goto done;
    result = Py_BuildValue("OOOn", outs[0], outs[1], outs[2], (Py_ssize_t)(p - (const char *)in.buf));

done:
    for (int s = 0; s < 3; s++)
        Py_XDECREF(outs[s]);
    PyBuffer_Release(&in);
    PyBuffer_Release(&labels);
    return result;
}

static PyMethodDef methods[] = {
    {"reorder", reorder, METH_VARARGS,
     "reorder(data, ncols, order) -> (bytes, rows, missing): each line's fields `order`."},
    {"route", route, METH_VARARGS,
     "route(data, labels) -> (bytes, bytes, bytes, consumed): line i to output labels[i]."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "mmeops._fastsplit",
    "The per-row loops of extract_split in C (optional; see extract_split).", -1, methods,
};

PyMODINIT_FUNC
PyInit__fastsplit(void)
{
    return PyModule_Create(&module);
}
