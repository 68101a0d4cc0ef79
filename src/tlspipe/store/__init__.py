"""Data on disk: the HDF5 inherent-structure store, LAMMPS data files, pair tables."""
