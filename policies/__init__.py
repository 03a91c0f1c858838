"""cinflow's bundled authority policies (installed as ``cinflow_policies``).

Each authority is a plugin module registered through cinflow's own
``cinflow`` entry points, exactly as a third-party policy would be."""
