"""Explicit SIMD vectors for the kernels that hold configurations in lanes (the NEB band, the exploration's lanes).

Why this module exists.  Numba hands the lane loops (``for k in range(W)``) to LLVM's loop vectoriser, which
vectorises them four doubles wide and, because it cannot prove that the force rows of particles i and j do not
overlap, guards every entry of the loop with run-time alias checks.  Per pair of a neighbour list that overhead
is paid once per call of the lane loop, so the loop pays off only from ~24 lanes on, and even at 64 lanes a
pair costs ~3 ns per lane (README, "Speed").  Numba also leaves LLVM's SLP vectoriser off, so a loop of a fixed
8 lanes is unrolled and then not vectorised at all.

Here the arithmetic of one pair in 8 lanes is written directly as LLVM vector instructions (``<8 x double>``)
through numba intrinsics: one load of 8 lanes per coordinate, the pair law on the vectors, one load-add-store
per force row.  No alias checks, no remainder loops; LLVM lowers the 8-wide vectors to whatever the CPU has
(two AVX2 registers, or one AVX-512 register).

The same bits.  Every vector operation is the IEEE operation of the scalar code it replaces, in the same order
(no fused multiply-add: numba does not contract either, and neither does this IR), and each lane's sums over
pairs are taken in pair order as in :func:`tlspipe.engine.potential.band_energy_forces_shared`'s loop.  The
results are therefore bit for bit those of the loop (``tests/test_lanes.py`` checks equality, not closeness).

Layout.  Arrays (N, 3, W) C-contiguous, W a multiple of 8; lane block b is lanes 8 b .. 8 b + 7.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .. import model

VW = 8  # doubles per vector
RC2 = model.RC_FACTOR**2
C0, C2, C4 = model.C0, model.C2, model.C4

_f64 = ir.DoubleType()
_vec = ir.VectorType(_f64, VW)
_i32 = ir.IntType(32)


def _splat(builder, val):
    """A vector with val in every lane."""
    u = ir.Constant(_vec, ir.Undefined)
    v = builder.insert_element(u, val, ir.Constant(_i32, 0))
    return builder.shuffle_vector(v, u, ir.Constant(ir.VectorType(_i32, VW), [0] * VW))


def _const(x: float):
    return ir.Constant(_vec, [float(x)] * VW)


class _Rows:
    """Vector pointers into an (N, 3, W) C-contiguous float64 array: row (particle, component), lane block b."""

    def __init__(self, context, builder, aty, aval, block):
        self.b = builder
        self.arr = context.make_array(aty)(context, builder, aval)
        self.intp = context.get_value_type(types.intp)
        self.W = cgutils.unpack_tuple(builder, self.arr.shape, 3)[2]
        self.W3 = builder.mul(self.W, ir.Constant(self.intp, 3))
        self.cW = [None, self.W, builder.mul(self.W, ir.Constant(self.intp, 2))]
        self.base = builder.mul(block, ir.Constant(self.intp, VW))

    def ptrs(self, row):
        """The three vector pointers (components 0, 1, 2) of one row: one multiply for the row, then steps of W."""
        b = self.b
        off = b.add(b.mul(row, self.W3), self.base)
        p0 = b.gep(self.arr.data, [off])
        return [b.bitcast(b.gep(p0, [self.cW[c]]) if c else p0, _vec.as_pointer()) for c in range(3)]

    def ptr(self, row, c: int):
        return self.ptrs(row)[c]

    def load(self, row, c: int):
        return self.b.load(self.ptr(row, c), align=8)


def _ints(context, builder, sig, args, which):
    return [context.cast(builder, args[k], sig.args[k], types.intp) for k in which]


def _pair_law(builder, d, is2v):
    """Energy v and -(dv/dr)/r of 8 lanes of one pair (separation vectors d, 1 / sigma_ij^2 is2v), zero beyond
    the cutoff: the operations of potential.pair_ef and band_energy_forces_shared in their order."""
    fsub, fmul, fadd = builder.fsub, builder.fmul, builder.fadd
    q = fmul(_norm2(builder, d), is2v)
    inside = builder.fcmp_ordered("<", q, _const(RC2))
    q = builder.select(inside, q, _const(RC2))
    iq = builder.fdiv(_const(1.0), q)
    u6 = fmul(fmul(iq, iq), iq)
    u12 = fmul(u6, u6)
    e = fadd(fadd(u12, _const(C0)), fmul(q, fadd(_const(C2), fmul(_const(C4), q))))
    fr = fmul(fsub(fsub(fmul(fmul(_const(12.0), u12), iq), _const(2.0 * C2)), fmul(_const(4.0 * C4), q)), is2v)
    return builder.select(inside, e, _const(0.0)), builder.select(inside, fr, _const(0.0))


@intrinsic
def run_lanes8(typingctx, XT, FT, ET, pj, ps, sh, i, p0, p1, block):
    """The listed pairs p0 <= p < p1 of one particle i (pi[p] == i; pj, ps, sh the list's columns, sh (M, 3)
    C-contiguous) in lanes 8 block .. 8 block + 7.  ET and F_i are held in registers over the run and written
    once, F_j -= f per pair: per lane the additions of the pair-by-pair loop in its order, so the same bits,
    without the chain of loads and stores through ET and F_i that bounds the pair-by-pair loop."""
    _check_f64(XT, FT, ET, ps, sh)
    sig = types.void(XT, FT, ET, pj, ps, sh, i, p0, p1, block)

    def codegen(context, builder, signature, args):
        t = signature.args
        vi, vp0, vp1, vb = _ints(context, builder, signature, args, (6, 7, 8, 9))
        X = _Rows(context, builder, t[0], args[0], vb)
        F = _Rows(context, builder, t[1], args[1], vb)
        E = _Lanes(context, builder, t[2], args[2], X.base)
        PJ = context.make_array(t[3])(context, builder, args[3])
        PS = context.make_array(t[4])(context, builder, args[4])
        SH = context.make_array(t[5])(context, builder, args[5])
        intp = X.intp
        xi = [builder.load(q, align=8) for q in X.ptrs(vi)]
        fi_ptrs = F.ptrs(vi)
        acc_e = cgutils.alloca_once_value(builder, E.load())
        acc_f = [cgutils.alloca_once_value(builder, builder.load(q, align=8)) for q in fi_ptrs]
        with cgutils.for_range(builder, vp1, start=vp0, intp=intp) as loop:
            p = loop.index
            j = builder.sext(builder.load(builder.gep(PJ.data, [p])), intp) if t[3].dtype.bitwidth < 64 else \
                builder.load(builder.gep(PJ.data, [p]))
            is2v = _splat(builder, builder.load(builder.gep(PS.data, [p])))
            p3 = builder.mul(p, ir.Constant(intp, 3))
            d = []
            xj = X.ptrs(j)
            for c in range(3):
                s = builder.load(builder.gep(SH.data, [builder.add(p3, ir.Constant(intp, c))]))
                d.append(builder.fsub(builder.fsub(xi[c], builder.load(xj[c], align=8)), _splat(builder, s)))
            e, fr = _pair_law(builder, d, is2v)
            builder.store(builder.fadd(builder.load(acc_e), e), acc_e)
            fj = F.ptrs(j)
            for c in range(3):
                fc = builder.fmul(fr, d[c])
                builder.store(builder.fadd(builder.load(acc_f[c]), fc), acc_f[c])
                builder.store(builder.fsub(builder.load(fj[c], align=8), fc), fj[c], align=8)
        E.store(builder.load(acc_e))
        for c in range(3):
            builder.store(builder.load(acc_f[c]), fi_ptrs[c], align=8)
        return context.get_dummy_value()

    return sig, codegen


# ------------------------------------------------------------------------------------------- FIRE in lanes
# The passes of one FIRE step over all particles for lane block b (engine.lanes._fire_pre), each an IR loop over
# the rows (particle, component) with the per-lane coefficients and masks held in vectors.  Per lane, every sum
# runs over the rows in order and every element sees the operations of minimise._fire in its order, so a lane's
# step is bit for bit the loop's (and the single descent's).


def _check_f64(*arrays):
    from numba.core.errors import TypingError

    for a in arrays:
        if not (isinstance(a, types.Array) and a.dtype == types.float64):
            raise TypingError(f"lane vectors take float64 arrays, got {a}")


class _Lanes:
    """Vector access to (W,) per-lane arrays (float64 or bool) at lane block b."""

    def __init__(self, context, builder, aty, aval, base):
        self.b = builder
        self.arr = context.make_array(aty)(context, builder, aval)
        self.base = base
        self.is_bool = aty.dtype == types.boolean

    def load(self):
        b = self.b
        if self.is_bool:
            p = b.bitcast(b.gep(self.arr.data, [self.base]), ir.VectorType(ir.IntType(8), VW).as_pointer())
            v = b.load(p, align=1)
            return b.icmp_unsigned("!=", v, ir.Constant(ir.VectorType(ir.IntType(8), VW), [0] * VW))
        return b.load(self._ptr(), align=8)

    def _ptr(self):
        b = self.b
        return b.bitcast(b.gep(self.arr.data, [self.base]), _vec.as_pointer())

    def store(self, v):
        self.b.store(v, self._ptr(), align=8)


def _rows_count(context, builder, X):
    n = cgutils.unpack_tuple(builder, X.arr.shape, 3)[0]
    return n


@intrinsic
def fire_power8(typingctx, FT, VT, P, block):
    """P[lanes of block] = sum over rows of F V (in row order)."""
    _check_f64(FT, VT, P)
    sig = types.void(FT, VT, P, block)

    def codegen(context, builder, signature, args):
        (vb,) = _ints(context, builder, signature, args, (3,))
        F = _Rows(context, builder, signature.args[0], args[0], vb)
        V = _Rows(context, builder, signature.args[1], args[1], vb)
        Pl = _Lanes(context, builder, signature.args[2], args[2], F.base)
        acc = cgutils.alloca_once_value(builder, _const(0.0))
        n = _rows_count(context, builder, F)
        with cgutils.for_range(builder, n) as loop:
            for c in range(3):
                builder.store(builder.fadd(builder.load(acc), builder.fmul(F.load(loop.index, c), V.load(loop.index, c))),
                              acc)
        Pl.store(builder.load(acc))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def fire_euler8(typingctx, XT, VT, FT, C, H, up, moved, VV, FF, block):
    """The half step back of uphill lanes (x -= C v, v = 0 where up), the velocity step v += H F where moved,
    and VV = sum vn^2, FF = sum F^2 over rows (vn: the stepped velocity)."""
    _check_f64(XT, VT, FT, C, H, VV, FF)
    sig = types.void(XT, VT, FT, C, H, up, moved, VV, FF, block)

    def codegen(context, builder, signature, args):
        (vb,) = _ints(context, builder, signature, args, (9,))
        t = signature.args
        X = _Rows(context, builder, t[0], args[0], vb)
        V = _Rows(context, builder, t[1], args[1], vb)
        F = _Rows(context, builder, t[2], args[2], vb)
        lanes = [_Lanes(context, builder, t[k], args[k], X.base) for k in (3, 4, 5, 6, 7, 8)]
        Cv, Hv, upv, mv = (lanes[k].load() for k in range(4))
        vv = cgutils.alloca_once_value(builder, _const(0.0))
        ff = cgutils.alloca_once_value(builder, _const(0.0))
        zero = _const(0.0)
        n = _rows_count(context, builder, X)
        with cgutils.for_range(builder, n) as loop:
            for c in range(3):
                px, pv = X.ptr(loop.index, c), V.ptr(loop.index, c)
                x = builder.load(px, align=8)
                v = builder.load(pv, align=8)
                f = F.load(loop.index, c)
                xn = builder.fsub(x, builder.fmul(Cv, v))
                x = builder.select(upv, xn, x)
                v = builder.select(upv, zero, v)
                vn = builder.fadd(v, builder.fmul(Hv, f))
                v = builder.select(mv, vn, v)
                builder.store(x, px, align=8)
                builder.store(v, pv, align=8)
                builder.store(builder.fadd(builder.load(vv), builder.fmul(vn, vn)), vv)
                builder.store(builder.fadd(builder.load(ff), builder.fmul(f, f)), ff)
        lanes[4].store(builder.load(vv))
        lanes[5].store(builder.load(ff))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def fire_mix8(typingctx, VT, FT, P, C, mix, VM, block):
    """FIRE mixing v = P v + C F where mix, and VM = max over particles of |v|^2."""
    _check_f64(VT, FT, P, C, VM)
    sig = types.void(VT, FT, P, C, mix, VM, block)

    def codegen(context, builder, signature, args):
        (vb,) = _ints(context, builder, signature, args, (6,))
        t = signature.args
        V = _Rows(context, builder, t[0], args[0], vb)
        F = _Rows(context, builder, t[1], args[1], vb)
        Pv, Cv, mixv = (_Lanes(context, builder, t[k], args[k], V.base).load() for k in (2, 3, 4))
        VMl = _Lanes(context, builder, t[5], args[5], V.base)
        vm = cgutils.alloca_once_value(builder, _const(0.0))
        n = _rows_count(context, builder, V)
        with cgutils.for_range(builder, n) as loop:
            vs = []
            for c in range(3):
                pv = V.ptr(loop.index, c)
                v = builder.load(pv, align=8)
                m = builder.fadd(builder.fmul(Pv, v), builder.fmul(Cv, F.load(loop.index, c)))
                v = builder.select(mixv, m, v)
                builder.store(v, pv, align=8)
                vs.append(v)
            b2 = _norm2(builder, vs)
            cur = builder.load(vm)
            builder.store(builder.select(builder.fcmp_ordered(">", b2, cur), b2, cur), vm)
        VMl.store(builder.load(vm))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def fire_move8(typingctx, XT, VT, C, H, cap, moved, block):
    """The speed cap v = C v where cap, then the new positions x += H v where moved."""
    _check_f64(XT, VT, C, H)
    sig = types.void(XT, VT, C, H, cap, moved, block)

    def codegen(context, builder, signature, args):
        (vb,) = _ints(context, builder, signature, args, (6,))
        t = signature.args
        X = _Rows(context, builder, t[0], args[0], vb)
        V = _Rows(context, builder, t[1], args[1], vb)
        Cv, Hv, capv, mv = (_Lanes(context, builder, t[k], args[k], X.base).load() for k in (2, 3, 4, 5))
        n = _rows_count(context, builder, X)
        with cgutils.for_range(builder, n) as loop:
            for c in range(3):
                pv, px = V.ptr(loop.index, c), X.ptr(loop.index, c)
                v = builder.load(pv, align=8)
                v = builder.select(capv, builder.fmul(v, Cv), v)
                builder.store(v, pv, align=8)
                x = builder.load(px, align=8)
                builder.store(builder.select(mv, builder.fadd(x, builder.fmul(Hv, v)), x), px, align=8)
        return context.get_dummy_value()

    return sig, codegen


def _norm2(builder, v):
    """v0^2 + v1^2 + v2^2 of three vectors, summed in that order (as the scalar loops)."""
    return builder.fadd(builder.fadd(builder.fmul(v[0], v[0]), builder.fmul(v[1], v[1])), builder.fmul(v[2], v[2]))


def _max_over_particles(context, builder, rows, init: float, per_particle):
    """The running maximum (NaN sticks) over the particles i of rows (a _Rows) of per_particle(i), from init."""
    m = cgutils.alloca_once_value(builder, _const(init))
    with cgutils.for_range(builder, _rows_count(context, builder, rows)) as loop:
        builder.store(_sticky_max(builder, per_particle(loop.index), builder.load(m)), m)
    return builder.load(m)


def _sticky_max(builder, d, cur):
    """max(cur, d) where a NaN d sticks (and a NaN cur stays): the running maximum of the scalar loops."""
    take = builder.or_(builder.fcmp_ordered(">", d, cur), builder.fcmp_unordered("uno", d, d))
    return builder.select(take, d, cur)


@intrinsic
def max_norm2_lanes8(typingctx, FT, out, block):
    """out[lanes of block] = max over particles of |F_i|^2 (NaN if any is NaN)."""
    _check_f64(FT, out)
    sig = types.void(FT, out, block)

    def codegen(context, builder, signature, args):
        (vb,) = _ints(context, builder, signature, args, (2,))
        F = _Rows(context, builder, signature.args[0], args[0], vb)
        O = _Lanes(context, builder, signature.args[1], args[1], F.base)

        def norm2(i):
            f = [builder.load(q, align=8) for q in F.ptrs(i)]
            return _norm2(builder, f)

        O.store(_max_over_particles(context, builder, F, 0.0, norm2))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def excess_lanes8(typingctx, XT, sref, allow2, out, block):
    """out[lanes of block] = max over particles of |x_i - sref_i|^2 - allow2_i (NaN if any is NaN); sref (N, 3)
    and allow2 (N,) C-contiguous."""
    _check_f64(XT, sref, allow2, out)
    sig = types.void(XT, sref, allow2, out, block)

    def codegen(context, builder, signature, args):
        t = signature.args
        (vb,) = _ints(context, builder, signature, args, (4,))
        X = _Rows(context, builder, t[0], args[0], vb)
        S = context.make_array(t[1])(context, builder, args[1])
        A2 = context.make_array(t[2])(context, builder, args[2])
        O = _Lanes(context, builder, t[3], args[3], X.base)

        def excess(i):
            i3 = builder.mul(i, ir.Constant(X.intp, 3))
            x = [builder.load(q, align=8) for q in X.ptrs(i)]
            s = [_splat(builder, builder.load(builder.gep(S.data, [builder.add(i3, ir.Constant(X.intp, c))])))
                 for c in range(3)]
            d = _norm2(builder, [builder.fsub(x[c], s[c]) for c in range(3)])
            return builder.fsub(d, _splat(builder, builder.load(builder.gep(A2.data, [i]))))

        O.store(_max_over_particles(context, builder, X, float("-inf"), excess))
        return context.get_dummy_value()

    return sig, codegen
