/* The per-row work of an extract, in C: the loops in mmeops that touch every byte of a
 * dataset (the COPY loop, copy_out, and the split's reorder and route). Optional: setup.py
 * builds it when a C compiler is there, and the extract falls back to the same operations in
 * Python (psycopg2's copy_expert for the COPY; byte-identical output, tested) when it is not.
 *
 * reorder and route take "plain" CSV only: lines of comma-separated values where no value holds a comma,
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
 *       outside scan.CLEAN or 39 digits in a row (scan.LONG), or, with `binary`, a
 *       target other than 0 or 1 (scan.odd's test, made here on the output while it is
 *       in cache rather than by Python).
 *   route(data, labels, out0, out1, out2) -> (consumed, written0, written1, written2)
 *       the first len(labels) lines, each to the output labels[i] (0, 1 or 2) names.
 *   copy_out(libpq, pgconn, sql, fd, chunk, on_chunk[, header, kinds]) -> (status, rows,
 *       sqlstate, message, position)
 *       runs `sql` (a COPY ... TO STDOUT) on the libpq connection `pgconn` (psycopg2's
 *       connection.pgconn_ptr) and writes its rows to `fd` in writes of about `chunk` bytes,
 *       without the GIL; after each write it calls on_chunk(bytes so far) with the GIL (raising
 *       there stops the COPY). With `kinds`, `sql` is a binary COPY and the loop writes
 *       `header` then the rows as CSV text (binary_rows). See copy_out below for why and how.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "_float8.h"

/* float8_text(x) -> bytes: PostgreSQL's text for the double x (_float8.h), for the tests. */
static PyObject *
py_float8_text(PyObject *self, PyObject *arg)
{
    char buf[FLOAT8_TEXT_MAX];
    double v = PyFloat_AsDouble(arg);
    if (v == -1.0 && PyErr_Occurred())
        return NULL;
    return PyBytes_FromStringAndSize(buf, float8_text(v, buf));
}

/* Does `out` (the output lines) hold a byte outside scan.CLEAN, or `n` or `a`? The output,
 * not the fields as they are copied: one pass, 16 bytes at a time (GCC/Clang vectors),
 * after the copies, is several times faster than a byte loop inside them. `n` and `a` are
 * the `nan` written for an empty feature; no number PostgreSQL prints holds either alone
 * (NaN has `N`, Infinity `I`, a large exponent `+`), so the answer is scan.odd's on the
 * fields themselves. */
typedef signed char s8x16 __attribute__((vector_size(16)));

/* A numeric prints all its digits (no exponent): 39 digits in a row may be 10^38 or more,
 * beyond float32's 3.4e38 (scan.LONG; PostgreSQL prints no leading zeros). Every run that
 * long holds a whole aligned 16-byte block of digits: one that reaches the last partial
 * block (under 16 bytes) holds at least 24 digits before it, so the block before it. */
#define LONG_RUN 39

static int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* The run of digits around p[from, to) (all digits) is LONG_RUN or longer. */
static int
long_run(const unsigned char *p, Py_ssize_t n, Py_ssize_t from, Py_ssize_t to)
{
    while (from > 0 && is_digit(p[from - 1]))
        from--;
    while (to < n && is_digit(p[to]))
        to++;
    return to - from >= LONG_RUN;
}

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
        s8x16 digit = (c >= '0') & (c <= '9');
        bad |= ~(digit | (c == '.') | (c == ',') | (c == '-') | (c == 'e') | (c == 'n') |
                 (c == 'a') | (c == '\n'));
        long long all[2];
        memcpy(all, &digit, 16);
        if ((all[0] & all[1]) == -1 && long_run(p, n, i, i + 16))
            return 1;
    }
    long long lanes[2];
    memcpy(lanes, &bad, 16);
    if (lanes[0] | lanes[1])
        return 1;
    for (; i < n; i++) {
        unsigned char c = p[i];
        if (!(is_digit(c) || c == '.' || c == ',' || c == '-' || c == 'e' || c == 'n' ||
              c == 'a' || c == '\n'))
            return 1;
    }
    return 0;
}

/* One line from p: its fields' bounds (the first ncols of them) into start/stop, their
 * count into *nfields; returns the line break, or NULL when there is none before `end` (a
 * partial line). With SSE2, 16 bytes at a time, commas and line break in one pass: a memchr
 * per field (12 here, of about 18 bytes) cost more in calls than in bytes. */
static const char *
split_line(const char *p, const char *end, const char **start, const char **stop,
           Py_ssize_t ncols, Py_ssize_t *nfields)
{
    Py_ssize_t fields = 0;
    const char *f = p, *q = p;
#ifdef __SSE2__
    const __m128i comma = _mm_set1_epi8(','), newline = _mm_set1_epi8('\n');
    for (; end - q >= 16; q += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)q);
        unsigned commas = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, comma));
        unsigned nl = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, newline));
        if (nl)
            commas &= (nl & -nl) - 1; /* only the commas before the line break */
        for (; commas; commas &= commas - 1) {
            const char *c = q + __builtin_ctz(commas);
            if (fields < ncols) {
                start[fields] = f;
                stop[fields] = c;
            }
            fields++;
            f = c + 1;
        }
        if (nl) {
            const char *le = q + __builtin_ctz(nl);
            if (fields < ncols) {
                start[fields] = f;
                stop[fields] = le;
            }
            *nfields = fields + 1;
            return le;
        }
    }
#endif
    for (; q < end; q++) {
        if (*q != ',' && *q != '\n')
            continue;
        if (fields < ncols) {
            start[fields] = f;
            stop[fields] = q;
        }
        fields++;
        f = q + 1;
        if (*q == '\n') {
            *nfields = fields;
            return q;
        }
    }
    return NULL;
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
        const char *line_end = split_line(p, end, start, stop, ncols, &fields);
        if (line_end == NULL)
            break; /* a partial line: the caller keeps it for the next call */
        if (fields != ncols) {
            bad = 1;
            break;
        }
        for (Py_ssize_t j = 0; j < nsel;) {
            Py_ssize_t k = order[j], len = stop[k] - start[k], last = j;
            if (j) {
                *o++ = ',';
                if (len == 0) {
                    memcpy(o, "nan", 3);
                    o += 3;
                    j++;
                    continue;
                }
                /* The features that follow k in the input as in the output, none empty:
                 * one memcpy with the commas between them (one per field: plain CSV).
                 * A call per field (11 here, of about 18 bytes) cost more than the bytes. */
                while (last + 1 < nsel && order[last + 1] == order[last] + 1 &&
                       stop[order[last + 1]] > start[order[last + 1]])
                    last++;
                len = stop[order[last]] - start[k];
            }
            memcpy(o, start[k], len);
            o += len;
            j = last + 1;
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

/* --- copy_out: the COPY loop -------------------------------------------------------------
 *
 * psycopg2's copy_expert hands every row to a Python write(): per row a bytes object, a call
 * and a GIL hand-off, which on 2 cores took the CPU the split's thread and the server need
 * (issue 28). Here a row costs a memcpy into a chunk that is written whole, and the GIL is
 * held only between chunks. libpq is the copy psycopg2 loaded, found by its path (passed by
 * the caller, from /proc/self/maps) and opened with RTLD_NOLOAD, so this module neither
 * links against libpq nor needs its headers, and the PGconn is only ever touched by the
 * library that made it. The prototypes and constants below are libpq's public, stable API
 * (libpq-fe.h, postgres_ext.h). */
#if defined(__linux__) || defined(__APPLE__)
#include <dlfcn.h>
#include <errno.h>
#include <unistd.h>

#define PGRES_COMMAND_OK 1
#define PGRES_COPY_OUT 3
#define PG_DIAG_SQLSTATE 'C'
#define PG_DIAG_MESSAGE_PRIMARY 'M'
#define PG_DIAG_STATEMENT_POSITION 'P'

typedef struct {
    int (*sendQuery)(void *, const char *);
    void *(*getResult)(void *);
    int (*resultStatus)(const void *);
    int (*getCopyData)(void *, char **, int);
    void (*freemem)(void *);
    void (*clear)(void *);
    char *(*errorField)(const void *, int);
    char *(*errorMessage)(const void *);
    char *(*cmdTuples)(void *);
} Libpq;

static int
load_libpq(const char *path, Libpq *pq)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD); /* the copy already loaded, or none */
    if (h == NULL) {
        PyErr_Format(PyExc_OSError, "libpq is not loaded from %s", path);
        return -1;
    }
#define SYM(field, name)                                                                   \
    if ((*(void **)&pq->field = dlsym(h, name)) == NULL) {                                 \
        PyErr_Format(PyExc_OSError, "%s has no %s", path, name);                          \
        dlclose(h);                                                                        \
        return -1;                                                                         \
    }
    SYM(sendQuery, "PQsendQuery")
    SYM(getResult, "PQgetResult")
    SYM(resultStatus, "PQresultStatus")
    SYM(getCopyData, "PQgetCopyData")
    SYM(freemem, "PQfreemem")
    SYM(clear, "PQclear")
    SYM(errorField, "PQresultErrorField")
    SYM(errorMessage, "PQerrorMessage")
    SYM(cmdTuples, "PQcmdTuples")
#undef SYM
    dlclose(h); /* drops only the reference taken here: psycopg2 keeps it loaded */
    return 0;
}

/* Write all of buf; 0, or errno. */
static int
write_all(int fd, const char *buf, Py_ssize_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, (size_t)len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        buf += n;
        len -= n;
    }
    return 0;
}

/* The results that end the query (after the COPY data, or instead of it), read until none
 * is left so the connection is idle again (or broken: then PQgetResult returns NULL): the
 * row count, or the first error's fields. The first error is the server's own (a statement
 * timeout, a shutdown); what follows it, such as libpq's "server closed the connection",
 * is its consequence. Stops at PGRES_COPY_OUT: the rows follow. */
static void
last_result(Libpq *pq, void *conn, int *status, long long *rows, char *sqlstate,
            char *message, Py_ssize_t msize, char *position)
{
    void *res;
    while ((res = pq->getResult(conn)) != NULL) {
        const char *f;
        int st = pq->resultStatus(res);
        if ((st == PGRES_COMMAND_OK || st == PGRES_COPY_OUT) && *message == '\0') {
            *status = st;
            f = pq->cmdTuples(res);
            *rows = (f && *f) ? atoll(f) : -1;
        }
        else if (*message == '\0') {
            *status = st;
            f = pq->errorField(res, PG_DIAG_SQLSTATE);
            snprintf(sqlstate, 6, "%s", f ? f : "");
            f = pq->errorField(res, PG_DIAG_MESSAGE_PRIMARY);
            snprintf(message, msize, "%s", f ? f : pq->errorMessage(conn));
            f = pq->errorField(res, PG_DIAG_STATEMENT_POSITION);
            snprintf(position, 12, "%s", f ? f : "");
        }
        pq->clear(res);
        if (st == PGRES_COPY_OUT)
            break;
    }
    if (*status != PGRES_COMMAND_OK && *status != PGRES_COPY_OUT && *message == '\0')
        snprintf(message, msize, "%s", pq->errorMessage(conn)); /* no result at all */
}

/* --- binary COPY: the server sends float8, bool and integers as bytes, and the loop writes
 * the CSV text COPY ... (FORMAT csv) would have written (issue 28: formatting doubles was
 * most of the server's CPU, the floor of every extract). extract.copyout chooses it for
 * results whose every column is a plain type (their text never needs CSV quoting), casts
 * the other plain types to text on the server (the output function COPY itself calls, in the
 * session's TimeZone and DateStyle), and passes the header line, which binary COPY lacks.
 *
 * The format (PostgreSQL docs, COPY, "Binary Format"): an 11-byte signature, a 32-bit flags
 * word, a 32-bit header extension length and that many bytes; then per tuple a 16-bit field
 * count, and per field a 32-bit length (-1: NULL) and that many bytes; a field count of -1
 * ends the data. Integers in network byte order. libpq hands over one tuple per
 * PQgetCopyData (the header arrives with the first, the trailer alone). */
#include <stdint.h> /* float8_text: _float8.h, included at the top */

#define BINARY_SIGNATURE "PGCOPY\n\377\r\n" /* and a NUL: 11 bytes */

static uint32_t
get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static char *
put_int(char *o, long long v)
{
    char tmp[20];
    int n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    if (v < 0)
        *o++ = '-';
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n)
        *o++ = tmp[--n];
    return o;
}

/* The CSV lines of the tuples in one CopyData message into `out` (room for 3 * len: a
 * field is at least 4 bytes of length and becomes at most 25: 24 of float8 text and a
 * comma; 12 bytes of float8). `kinds`: a letter per column, how its bytes read: d float8,
 * b bool, h i l int2/int4/int8, t text (the server's own). *header: the file header is still
 * to come; *ended: the trailer was read. Returns the bytes written, or -1: not the data asked
 * for (another format, a field count or a length that does not fit). */
static Py_ssize_t
binary_rows(const unsigned char *p, Py_ssize_t len, const char *kinds, Py_ssize_t ncols,
            char *out, int *header, int *ended)
{
    const unsigned char *end = p + len;
    char *o = out;
    if (*header) {
        /* Flags: bit 16 says OIDs follow, the others are reserved: none is asked for. */
        if (len < 19 || memcmp(p, BINARY_SIGNATURE, 11) != 0 || get32(p + 11) != 0 ||
            get32(p + 15) > (uint32_t)(len - 19))
            return -1;
        p += 19 + get32(p + 15);
        *header = 0;
    }
    while (p < end) {
        if (*ended || end - p < 2)
            return -1;
        int count = (int16_t)(p[0] << 8 | p[1]);
        p += 2;
        if (count == -1) {
            *ended = 1;
            continue;
        }
        if (count != ncols)
            return -1;
        for (Py_ssize_t i = 0; i < ncols; i++) {
            if (end - p < 4)
                return -1;
            int32_t flen = (int32_t)get32(p);
            p += 4;
            if (i)
                *o++ = ',';
            if (flen == -1)
                continue; /* NULL: an empty field, as CSV COPY writes it */
            if (flen < 0 || end - p < flen)
                return -1;
            if (kinds[i] == 't') { /* the server's text */
                memcpy(o, p, flen);
                o += flen;
                p += flen;
                continue;
            }
            uint64_t u = 0; /* the value's bytes, network order */
            for (int32_t k = 0; k < flen && k < 8; k++)
                u = u << 8 | p[k];
            switch (kinds[i]) {
            case 'd': {
                double v;
                if (flen != 8)
                    return -1;
                memcpy(&v, &u, 8);
                o += float8_text(v, o);
                break;
            }
            case 'b':
                if (flen != 1)
                    return -1;
                *o++ = u ? 't' : 'f'; /* COPY's boolean text; boolean::text says `true` */
                break;
            case 'h':
                if (flen != 2)
                    return -1;
                o = put_int(o, (int16_t)u);
                break;
            case 'i':
                if (flen != 4)
                    return -1;
                o = put_int(o, (int32_t)u);
                break;
            default: /* 'l' */
                if (flen != 8)
                    return -1;
                o = put_int(o, (long long)(int64_t)u);
            }
            p += flen;
        }
        *o++ = '\n';
    }
    return o - out;
}

/* Where the rows go: a chunk of `chunk` bytes written whole (`cap` grows past it only for a
 * row longer than a chunk), `wrote` bytes since the caller's last turn, `err` an errno. */
typedef struct {
    int fd, err;
    char *buf;
    Py_ssize_t cap, chunk, filled, wrote;
} Chunks;

/* Room for `need` more bytes at buf + filled; 0, or ENOMEM. Without the GIL: PyMem_Raw. */
static int
reserve(Chunks *c, Py_ssize_t need)
{
    if (c->filled + need <= c->cap)
        return 0;
    char *b = PyMem_RawRealloc(c->buf, c->filled + need);
    if (b == NULL)
        return ENOMEM;
    c->buf = b;
    c->cap = c->filled + need;
    return 0;
}

/* The row just placed at buf + filled (n bytes) joins the chunk: what was gathered is written
 * first when the row would take it past `chunk`, and a row longer than a chunk on its own. */
static void
add_row(Chunks *c, Py_ssize_t n)
{
    if (c->filled && c->filled + n > c->chunk) {
        if ((c->err = write_all(c->fd, c->buf, c->filled)) != 0)
            return;
        c->wrote += c->filled;
        memmove(c->buf, c->buf + c->filled, n);
        c->filled = 0;
    }
    if (n > c->chunk) {
        if ((c->err = write_all(c->fd, c->buf, n)) == 0)
            c->wrote += n;
    }
    else
        c->filled += n;
}

static void
flush(Chunks *c)
{
    if (c->filled && (c->err = write_all(c->fd, c->buf, c->filled)) == 0)
        c->wrote += c->filled;
    c->filled = 0;
}

static PyObject *
copy_out(PyObject *self, PyObject *args)
{
    const char *path, *sql, *header = "", *kinds = NULL;
    unsigned long long conn_ptr;
    Py_ssize_t hlen = 0, ncols = 0;
    PyObject *on_chunk;
    Chunks out = {0};
    Libpq pq;

    if (!PyArg_ParseTuple(args, "sKyinO|y#z", &path, &conn_ptr, &sql, &out.fd, &out.chunk,
                          &on_chunk, &header, &hlen, &kinds))
        return NULL;
    if (out.chunk < 1 || conn_ptr == 0) {
        PyErr_SetString(PyExc_ValueError, "chunk must be positive and pgconn set");
        return NULL;
    }
    if (kinds != NULL) {
        ncols = (Py_ssize_t)strlen(kinds);
        if (ncols < 1 || ncols > 1664 || strspn(kinds, "dbhilt") != (size_t)ncols) {
            PyErr_SetString(PyExc_ValueError, "kinds: one of d, b, h, i, l, t per column");
            return NULL;
        }
    }
    if (load_libpq(path, &pq) < 0)
        return NULL;
    void *conn = (void *)(uintptr_t)conn_ptr;
    out.cap = out.chunk;
    out.buf = PyMem_RawMalloc(out.cap);
    if (out.buf == NULL)
        return PyErr_NoMemory();

    int status = -1, sent, in_header = kinds != NULL, ended = 0, bad = 0;
    long long rows = -1;
    char sqlstate[6] = "", message[1024] = "", position[12] = "";
    long long total = 0;

    Py_BEGIN_ALLOW_THREADS
    sent = pq.sendQuery(conn, sql);
    if (sent)
        last_result(&pq, conn, &status, &rows, sqlstate, message, sizeof message, position);
    Py_END_ALLOW_THREADS
    if (!sent) {
        snprintf(message, sizeof message, "%s", pq.errorMessage(conn));
        goto result;
    }

    while (status == PGRES_COPY_OUT) {
        int len = 0;
        out.wrote = 0;
        Py_BEGIN_ALLOW_THREADS
        if (hlen && (out.err = reserve(&out, hlen)) == 0) { /* the header line, written first */
            memcpy(out.buf, header, hlen);
            add_row(&out, hlen);
            hlen = 0;
        }
        while (!out.err && !out.wrote) {
            char *row;
            len = pq.getCopyData(conn, &row, 0);
            if (len <= 0) { /* -1: the end, -2: an error; the last result says which */
                flush(&out);
                break;
            }
            Py_ssize_t n = len;
            if ((out.err = reserve(&out, kinds ? 3 * n : n)) == 0) {
                if (kinds)
                    n = binary_rows((const unsigned char *)row, len, kinds, ncols,
                                    out.buf + out.filled, &in_header, &ended);
                else
                    memcpy(out.buf + out.filled, row, len);
                if (n >= 0)
                    add_row(&out, n);
            }
            pq.freemem(row);
            if (n < 0) {
                bad = 1;
                break;
            }
        }
        Py_END_ALLOW_THREADS
        if (out.err) {
            errno = out.err;
            PyErr_SetFromErrno(PyExc_OSError);
            goto failed;
        }
        if (bad) {
            PyErr_SetString(PyExc_ValueError,
                            "the binary COPY data is not in the format asked for");
            goto failed;
        }
        if (out.wrote) { /* the caller's turn: notify the split, report progress, or stop */
            total += out.wrote;
            PyObject *r = PyObject_CallFunction(on_chunk, "L", total);
            if (r == NULL)
                goto failed;
            Py_DECREF(r);
        }
        if (len <= 0) {
            status = -1;
            Py_BEGIN_ALLOW_THREADS
            last_result(&pq, conn, &status, &rows, sqlstate, message, sizeof message,
                        position);
            Py_END_ALLOW_THREADS
        }
    }

    if (status == PGRES_COMMAND_OK && kinds != NULL && !ended) {
        /* The COPY succeeded but its data had no trailer: rows may be missing. (One that
         * failed has none either: the server's error says why.) */
        PyErr_SetString(PyExc_ValueError, "the binary COPY data ended without its trailer");
        goto failed;
    }

result:
    PyMem_RawFree(out.buf);
    /* libpq's own messages are in the locale's language and encoding, and a long one was
     * cut at a byte: never a UnicodeDecodeError (and a traceback) for an error's text. */
    return Py_BuildValue("iLsNs", status, rows, sqlstate,
                         PyUnicode_DecodeUTF8(message, strlen(message), "replace"), position);

failed: /* mid-COPY: the caller closes the connection */
    PyMem_RawFree(out.buf);
    return NULL;
}
#endif

static PyMethodDef methods[] = {
    {"reorder", reorder, METH_VARARGS,
     "reorder(data, ncols, order, out, binary) -> (consumed, written, rows, missing, odd)"},
    {"route", route, METH_VARARGS,
     "route(data, labels, out0, out1, out2) -> (consumed, written0, written1, written2)"},
#if defined(__linux__) || defined(__APPLE__)
    {"copy_out", copy_out, METH_VARARGS,
     "copy_out(libpq, pgconn, sql, fd, chunk, on_chunk[, header, kinds]) -> (status, rows, "
     "sqlstate, message, position)"},
#endif
    {"float8_text", py_float8_text, METH_O, "float8_text(x: float) -> bytes: PostgreSQL's text"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "mmeops.extract._fastsplit",
    "The per-row loops of an extract in C (optional; see extract.copyout, extract.split).", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__fastsplit(void)
{
    return PyModule_Create(&module);
}
