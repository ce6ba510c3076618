"""Process launchers: Triton, Redis, llama.cpp, the workers and ``tandem serve`` as child processes."""
