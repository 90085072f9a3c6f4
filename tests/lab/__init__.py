"""The censorship lab: a small internet in network namespaces with real servers and real censors (README.md)."""
