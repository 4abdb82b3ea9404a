"""One module per subcommand; each takes a composed config and an output directory."""
