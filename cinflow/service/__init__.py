"""cinflow as a service: the JSON API and the team worklist (``cinflow serve``)."""
