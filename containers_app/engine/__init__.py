"""The one package that talks to the Docker engine (docker-py), one module per thing it owns.

`client` holds the connection and turns docker-py's errors into `errors`;
`system` the engine as a whole (version, info, disk use, events); `containers`,
`images`, `networks` and `volumes` their resources; `streams` the stats, log and
terminal connections to one container; `registries` logins and Docker Hub
searches. Callers import the module they use.
"""
