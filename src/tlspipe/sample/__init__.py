"""Making glasses and exploring their energy landscape.

prepare: hybrid MD / swap Monte Carlo equilibration at the preparation temperature Tf, then fast cooling.
explore: NVE trajectories at T = 0.04 quenched every tau_quench to their inherent structures (IS).
"""
