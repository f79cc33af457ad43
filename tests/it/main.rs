//! Integration tests: the real `mailu-git` binary, on temporary data directories, checked with the
//! real `git` binary. One test binary, modules by area (see house style).

mod support;

mod serve;
