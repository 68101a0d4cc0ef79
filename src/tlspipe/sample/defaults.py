"""Defaults of preparation and exploration (a light module: the command line reads it at start-up); the
workflow's schema has the same (tests/test_defaults.py keeps them equal)."""

N_PARTICLES = 1500  # particles of a glass at density 1 (the study's n_particles, `tlspipe prepare --n`)

PREPARE_DEFAULTS = dict(
    n_blocks=400,  # hybrid blocks at Tf (equilibration length)
    swaps_per_particle=5,  # swap attempts per block, per particle
    md_time=0.1,  # MD duration per block
    dt=0.01,
    gamma=1.0,  # Langevin friction during equilibration
    T_melt=0.3,
    melt_time=10.0,
    cool_time=10.0,  # Berendsen ramp Tf -> T_final
    tau_berendsen=0.1,
    T_final=0.04,
    check_sigmas=3.0,
)

# prepare.protocol: cooling (tlspipe.sample.cooling), the schema's prepare.cooling mapping
COOLING_DEFAULTS = dict(
    density=None,  # number density of the box (required)
    composition=None,  # fraction of particles per atom type, e.g. [0.8, 0.2] (required)
    start="lattice",  # or "random"
    equilibrate_time=20.0,  # Langevin NVT at Tf
    cool_time=20.0,  # linear ramp Tf -> T_final
    hold_time=2.0,  # NVT at T_final
    T_final=None,  # None: the exploration's T
    dt=0.005,
    gamma=1.0,
)

EXPLORE_DEFAULTS = dict(
    n_traj=4,
    traj_time=100.0,  # MD duration of one trajectory
    tau_quench=None,  # None: per-Tf default of TAU_QUENCH_BY_TF
    T=0.04,
    dt=0.01,
    ftol=1e-6,  # FIRE convergence of the quenches, max_i |F_i| (enough to tell IS apart, see below)
    refine_ftol=1e-10,  # a newly found IS is minimised further to this before it is stored
    energy_tol=1e-9,  # per particle
    position_tol=1e-3,  # sigma, largest single-particle displacement
    engine="native",  # or "lammps"
    # early stop of a quench certainly ending in an IS already found (same record, fewer steps; native
    # engine only): mechanical energy within exit_energy (epsilon) of the IS, every particle within
    # exit_distance (sigma), force within exit_harmonic (relative) of the IS's harmonic bowl
    early_exit=True,
    exit_energy=1e-4,
    exit_distance=0.02,
    exit_harmonic=0.2,
    # quenches of one trajectory descend together in this many SIMD lanes (engine.lanes.LaneFIRE, native
    # engine); 0 or 1: one quench at a time.  The lane width does not change any result, only lanes on or off
    # does (at rounding level: see tlspipe.sample.explore).  8 (one vector of doubles) was the fastest of
    # 8/16/32/64 at N = 1500: more lanes in flight lose early stops and overflow the core's cache (README, Speed)
    lanes=8,
    # precision of the quenches in lanes: "float64" (the arithmetic of one quench at a time), or "mixed": the bulk
    # of each descent in float32 lanes until max_i |F_i| < lane_switch_force, its end (convergence, early stop,
    # final IS) in float64 (engine.lanes.MixedLaneFIRE; opt-in: it rounds differently, see README "Speed")
    lane_precision="float64",
    lane_switch_force=1e-2,
)

# the paper's quench periods (Methods C), and linear interpolation between them
TAU_QUENCH_BY_TF = {0.062: 0.2, 0.07: 0.1, 0.092: 0.05}
