"""Everything that starts jobs: submission (shared by every trigger), dispatch, the sweeper."""
