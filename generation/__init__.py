"""Text generation: the generator protocol and the llama.cpp engine (loaded once per process)."""
