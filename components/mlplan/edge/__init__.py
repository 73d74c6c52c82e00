"""Side effects at the edge: files, git, stack config, the Automation API, the Pulumi program
and the command line. The only layer that reads the world and wires the others."""
