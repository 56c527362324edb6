"""One module per `gan` verb: `register(sub)` adds its parser (every flag with help), `run(args)` is its handler.
Handlers import what they need when they run, so `gan --help` and `gan config` stay torch-free."""
