"""Small helpers that several parts of the package share: atomic file writes (:mod:`.io`) and periodic-box
geometry (:mod:`.periodic`)."""
