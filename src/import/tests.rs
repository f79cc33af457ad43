//! Unit tests of the import: conversion, merge notation, plan, export round trip.
