"""CPU instruction sets from a cpuinfo text: the sets present, the AMX predicate, one-line description."""

from __future__ import annotations

from investiq.core.cpu import MATMUL_SETS, describe, has_amx, instruction_sets, model_name

# Abridged from a 2-core Sapphire Rapids VM; the second processor block repeats the fields.
FLAGS = "fpu avx f16c avx2 avx512f avx512bw avx_vnni avx512_bf16 avx512_vnni amx_bf16 amx_tile amx_int8"
AMX = "".join(f"processor\t: {n}\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: {FLAGS}\n" for n in (0, 1))
AVX2 = "model name : AMD EPYC 7B12\nflags : fpu sse2 avx avx2 fma\n"


def test_the_sets_of_an_amx_machine():
    assert instruction_sets(AMX) == frozenset(
        {"avx2", "avx_vnni", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"}
    )
    assert has_amx(instruction_sets(AMX))


def test_an_avx2_only_machine_has_no_amx():
    sets = instruction_sets(AVX2)
    assert sets == frozenset({"avx2"})
    assert not has_amx(sets)


def test_vnni_without_amx():
    sets = instruction_sets("flags : avx2 avx512f avx512_vnni\n")
    assert "avx512_vnni" in sets and not has_amx(sets)


def test_flags_are_whole_words_not_substrings():
    # "avx512_vnni" must not be found inside e.g. "avx512_vnnix", nor amx_int8 inside amx_int8x
    assert instruction_sets("flags : avx512_vnnix amx_int8x\n") == frozenset()


def test_describe_names_the_model_and_lists_the_sets_in_order():
    assert model_name(AMX) == "Intel(R) Xeon(R) Processor"
    assert describe(AVX2) == "AMD EPYC 7B12 (avx2)"
    listed = describe(AMX).rsplit(" (", 1)[1].rstrip(")").split(", ")
    assert listed == [s for s in MATMUL_SETS if s in instruction_sets(AMX)]


def test_no_cpuinfo_means_no_sets():
    assert instruction_sets("") == frozenset()
    assert describe("model name : X\n") == "X (no AVX2)"


def test_this_machine_reads_without_error():
    assert instruction_sets() <= frozenset(MATMUL_SETS)
    assert describe().endswith(")")
