// Demangling: tables of real mangled names (taken from node's .dynsym and from a small Rust program
// built with both manglings) with what `nm -C` prints, the profile form without parameters, and a
// bulk comparison with `nm -D --demangle` over this machine's node binary; garbage never throws.
import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import t from 'tap';
import { demangle } from '../../src/symbols/demangle/index.js';
import { XorShift32 } from '../helpers/prng.js';

/** [mangled, profile form (no parameters), nm -C form]. */
const ITANIUM: [string, string, string][] = [
  ['_ZN2v88internal4Heap27PrintMaxNewSpaceSizeReachedEv', 'v8::internal::Heap::PrintMaxNewSpaceSizeReached', 'v8::internal::Heap::PrintMaxNewSpaceSizeReached()'],
  ['_ZNSt6vectorIiSaIiEE9push_backERKi', 'std::vector<int, std::allocator<int> >::push_back', 'std::vector<int, std::allocator<int> >::push_back(int const&)'],
  ['_ZNK2v85Value10IsFunctionEv', 'v8::Value::IsFunction', 'v8::Value::IsFunction() const'],
  ['_ZN4node6crypto13SecureContext6SetCRLEPNS_11EnvironmentERKSt10unique_ptrI6bio_stNS_15FunctionDeleterIS5_XadL_Z12BIO_free_allEEEEE', 'node::crypto::SecureContext::SetCRL', 'node::crypto::SecureContext::SetCRL(node::Environment*, std::unique_ptr<bio_st, node::FunctionDeleter<bio_st, &BIO_free_all> > const&)'],
  ['_ZN2v88internal4Zone3NewINS0_5ScopeEJPS1_RPS3_RNS0_9ScopeTypeEEEEPT_DpOT0_', 'v8::internal::Zone::New<v8::internal::Scope, v8::internal::Zone*, v8::internal::Scope*&, v8::internal::ScopeType&>', 'v8::internal::Scope* v8::internal::Zone::New<v8::internal::Scope, v8::internal::Zone*, v8::internal::Scope*&, v8::internal::ScopeType&>(v8::internal::Zone*&&, v8::internal::Scope*&, v8::internal::ScopeType&)'],
  ['_ZZ4mainENKUlvE_clEv', 'main::{lambda()#1}::operator()', 'main::{lambda()#1}::operator()() const'],
  ['_ZNSsC1Ev', 'std::basic_string<char, std::char_traits<char>, std::allocator<char> >::basic_string', 'std::basic_string<char, std::char_traits<char>, std::allocator<char> >::basic_string()'],
  ['_ZThn8_N3Foo3barEv', 'non-virtual thunk to Foo::bar', 'non-virtual thunk to Foo::bar()'],
  ['_ZTVN2v88internal7IsolateE', 'vtable for v8::internal::Isolate', 'vtable for v8::internal::Isolate'],
  ['_ZN12_GLOBAL__N_13bazEv', '(anonymous namespace)::baz', '(anonymous namespace)::baz()'],
  ['_ZN5Outer5InnerIcE3getEv.cold', 'Outer::Inner<char>::get [clone .cold]', 'Outer::Inner<char>::get() [clone .cold]'],
  ['_ZNK3Foo3getB5cxx11Ev', 'Foo::get[abi:cxx11]', 'Foo::get[abi:cxx11]() const'],
  ['_ZN3FooltIiEEbT_', 'Foo::operator< <int>', 'bool Foo::operator< <int>(int)'],
  ['_Z1fPFviEPA3_iM1AFvvEM1Ai', 'f', 'f(void (*)(int), int (*) [3], void (A::*)(), int A::*)'],
  ['_ZNKSt8functionIFvvEEclEv', 'std::function<void ()>::operator()', 'std::function<void ()>::operator()() const'],
  ['_ZSt4endlIcSt11char_traitsIcEERSt13basic_ostreamIT_T0_ES6_', 'std::endl<char, std::char_traits<char> >', 'std::basic_ostream<char, std::char_traits<char> >& std::endl<char, std::char_traits<char> >(std::basic_ostream<char, std::char_traits<char> >&)'],
  ['_ZN2v84base17PrintCheckOperandIiEENSt9enable_ifIXaaaantsrSt11is_functionINSt14remove_pointerIT_E4typeEE5valuentsrSt7is_enumIS5_E5valuesrNS0_19has_output_operatorIS5_NS0_18CheckMessageStreamEvEE5valueENSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEE4typeES5_', 'v8::base::PrintCheckOperand<int>', 'std::enable_if<((!std::is_function<std::remove_pointer<int>::type>::value)&&(!std::is_enum<int>::value))&&v8::base::has_output_operator<int, v8::base::CheckMessageStream, void>::value, std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> > >::type v8::base::PrintCheckOperand<int>(int)'],
  ['_ZN2v88internal8compiler14GraphAssembler10BranchImplIJEEEvNS1_15BranchSemanticsEPNS1_4NodeEPNS1_19GraphAssemblerLabelIXsZT_EEES9_NS0_10BranchHintEDpT_', 'v8::internal::compiler::GraphAssembler::BranchImpl<>', 'void v8::internal::compiler::GraphAssembler::BranchImpl<>(v8::internal::compiler::BranchSemantics, v8::internal::compiler::Node*, v8::internal::compiler::GraphAssemblerLabel<0>*, v8::internal::compiler::GraphAssemblerLabel<0>*, v8::internal::BranchHint)'],
  ['_Z1fILi3ELb1ELc97ELj5ELm7ELin2EEvv', 'f<3, true, (char)97, 5u, 7ul, -2>', 'void f<3, true, (char)97, 5u, 7ul, -2>()'],
  ['_ZN1AcviEv', 'A::operator int', 'A::operator int()'],
  ['_Z3fooPVKi', 'foo', 'foo(int const volatile*)'],
  ['_ZSt6all_ofIPKcPDoFbcEEbT_S4_T0_', 'std::all_of<char const*, bool (*)(char) noexcept>', 'bool std::all_of<char const*, bool (*)(char) noexcept>(char const*, char const*, bool (*)(char) noexcept)'],
  ['_Z1fv.isra.0.cold', 'f [clone .isra.0] [clone .cold]', 'f() [clone .isra.0] [clone .cold]'],
  ['_ZNSo3putEc@@GLIBCXX_3.4', 'std::ostream::put@@GLIBCXX_3.4', 'std::ostream::put(char)@@GLIBCXX_3.4'],
];

/** Rust, printed as rustc-demangle's alternate form: no hashes, no crate disambiguators. */
const RUST: [string, string][] = [
  ['_ZN1a4main17h1854dee5fd9945b4E', 'a::main'],
  ['_ZN1a14Point$LT$T$GT$4show17hc0140a2810394f3fE', 'a::Point<T>::show'],
  ['_ZN3std2rt10lang_start28_$u7b$$u7b$closure$u7d$$u7d$17he39bdf0230cb3880E', 'std::rt::lang_start::{{closure}}'],
  ['_ZN42_$LT$$RF$T$u20$as$u20$core..fmt..Debug$GT$3fmt17h5f9e7f04b716cae8E', '<&T as core::fmt::Debug>::fmt'],
  ['_ZN71_$LT$core..hash..sip..Hasher$LT$S$GT$$u20$as$u20$core..hash..Hasher$GT$5write17hd29dd6dadecb20b4E.llvm.9422240027535371737', '<core::hash::sip::Hasher<S> as core::hash::Hasher>::write'],
  ['_RNvCs6xxl1lAjzDf_1a4main', 'a::main'],
  ['_RNvMCs6xxl1lAjzDf_1aINtB2_5PointAxj2_E4showB2_', '<a::Point<[i64; 2]>>::show'],
  ['_RNvMCs6xxl1lAjzDf_1aINtB2_5PointhE4showB2_', '<a::Point<u8>>::show'],
  ['_RNvMs0_NtNtNtNtCsjrHSEGnQ3l9_3std3sys4sync4once5futexNtB5_4Once4call', '<std::sys::sync::once::futex::Once>::call'],
  ['_RNvYNvNtNtNtCsjrHSEGnQ3l9_3std3sys2fs4unix4statINtNtNtCsgEmfK2I1SDS_4core3ops8function2FnTRNtNtNtBQ_3ffi5c_str4CStrEE4callBa_', '<std::sys::fs::unix::stat as core::ops::function::Fn<(&core::ffi::c_str::CStr,)>>::call'],
  ['_RINvMs0_NtNtNtCsjrHSEGnQ3l9_3std12backtrace_rs9symbolize5gimliNtB6_5Cache11with_globalNCNvB6_7resolves_0EBc_', '<std::backtrace_rs::symbolize::gimli::Cache>::with_global::<std::backtrace_rs::symbolize::gimli::resolve::{closure#1}>'],
  ['_RINvMNtNtCsjrHSEGnQ3l9_3std4sync9once_lockINtB3_8OnceLockNtNtB7_2fs4FileE10initializeNCNvNtNtNtB7_3sys6random5linux9getrandom0NtNtNtB7_2io5error5ErrorEB7_', '<std::sync::once_lock::OnceLock<std::fs::File>>::initialize::<std::sys::random::linux::getrandom::{closure#0}, std::io::error::Error>'],
  ['_RINvNtCsgEmfK2I1SDS_4core9panicking13assert_failedssECsjrHSEGnQ3l9_3std', 'core::panicking::assert_failed::<i16, i16>'],
  ['_RNvXsx_NtNtCsgEmfK2I1SDS_4core3fmt3numlNtB7_8UpperHex3fmt', '<i32 as core::fmt::UpperHex>::fmt'],
  ['_RNvXsq_NtCsgEmfK2I1SDS_4core3fmtONtNtB7_3ffi6c_voidNtB5_5Debug3fmtCsjrHSEGnQ3l9_3std', '<*mut core::ffi::c_void as core::fmt::Debug>::fmt'],
  // Forms checked against c++filt: fn pointers with a binder, dyn with a binding, const generics,
  // 1-tuples, punycode identifiers.
  ['_RINvCs1234_1a1fFG_KCRL0_hEuE', 'a::f::<for<\'a> extern "C" fn(&\'a u8)>'],
  ['_RINvCs1234_1a1fDNtCs1234_1b3Foop4ItemlEL_E', 'a::f::<dyn b::Foo<Item = i32>>'],
  ['_RINvCs1234_1a1fKb1_E', 'a::f::<true>'],
  ['_RINvCs1234_1a1fKc61_E', "a::f::<'a'>"],
  ['_RINvCs1234_1a1fTlEE', 'a::f::<(i32,)>'],
  ['_RNvCs1234_1au8gdel_5qa', 'a::gödel'],
  ['_RNvCs1234_1au5ida2a', 'a::ñÿ'],
];

t.test('Itanium C++: the profile form and the nm -C form', async (t) => {
  for (const [mangled, short, full] of ITANIUM) {
    t.equal(demangle(mangled), short, mangled);
    t.equal(demangle(mangled, { params: true }), full, `${mangled} (params)`);
  }
});

t.test('Rust legacy and v0', async (t) => {
  for (const [mangled, want] of RUST) t.equal(demangle(mangled), want, mangled);
});

t.test('names that are not mangled come back unchanged', async (t) => {
  for (const n of ['malloc', 'memcpy@GLIBC_2.14', 'main.hotLoop', 'crypto/tls.(*Conn).Read', '_Z', '_ZN', '_R', '_Rfoo', '__libc_start_main', '_ZN3foo', 'JS:*foo /x.js:1']) {
    t.equal(demangle(n), n, n);
  }
});

t.test('agrees with nm -D --demangle over node\'s dynamic symbols', async (t) => {
  const node = realpathSync(process.execPath);
  const nm = (args: string[]): string[] => execFileSync('nm', ['-D', '--no-sort', ...args, node], { maxBuffer: 256 << 20 }).toString().split('\n');
  const mangled = nm([]);
  const demangled = nm(['--demangle']);
  t.equal(mangled.length, demangled.length, 'same lines in both listings');
  let compared = 0;
  let same = 0;
  const differ: string[] = [];
  const started = performance.now();
  for (let i = 0; i < mangled.length; i++) {
    // "<addr> T name" or "         U name": the name is the rest after the type letter.
    const m = /^\s*[0-9a-f]*\s+\S\s+(.*)$/.exec(mangled[i]!)?.[1];
    const d = /^\s*[0-9a-f]*\s+\S\s+(.*)$/.exec(demangled[i]!)?.[1];
    if (!m || !d || !m.startsWith('_Z') || m === d) continue; // not C++, or nm could not demangle it either
    compared++;
    const ours = demangle(m, { params: true });
    if (ours === d) same++;
    else if (differ.length < 2) differ.push(`${m.slice(0, 120)}…\n  ours: ${ours?.slice(0, 160)}…\n  nm:   ${d.slice(0, 160)}…`);
  }
  const ms = performance.now() - started;
  t.ok(compared > 1000, `${compared} C++ names in ${node}`);
  t.ok(same / compared >= 0.995, `${same}/${compared} identical to nm${differ.length ? `; e.g.\n${differ.join('\n')}` : ''}`);
  t.ok(ms < 10_000, `${Math.round(ms)} ms`);
});

t.test('garbage and mutated names never throw and stay bounded', async (t) => {
  const rng = new XorShift32(0xde3a6);
  const seeds = [...ITANIUM.map((r) => r[0]), ...RUST.map((r) => r[0])];
  const alphabet = '_ZNRKSTEIJLXDpadvc0123456789ABCabcdefghijklmnopqrstuvwxyz$.';
  const started = performance.now();
  for (let i = 0; i < 20_000; i++) {
    let s: string;
    if (i % 2 === 0) {
      const base = [...rng.pick(seeds)];
      for (let j = 0; j < 1 + rng.int(4); j++) base[rng.int(base.length)] = alphabet[rng.int(alphabet.length)]!;
      s = base.join('').slice(0, rng.int(base.length + 1));
    } else {
      s = rng.pick(['_Z', '_ZN', '_R', '_RN', '_ZZ']) + Array.from({ length: rng.int(60) }, () => alphabet[rng.int(alphabet.length)]).join('');
    }
    let out: string;
    try {
      out = demangle(s, { params: i % 3 === 0 });
    } catch (err) {
      t.fail(`case ${i} (${JSON.stringify(s)}) threw ${String(err)}`);
      continue;
    }
    if (typeof out !== 'string' || out.length > 20_000) t.fail(`case ${i}: ${JSON.stringify(s)} gave ${out.length} chars`);
  }
  // Substitutions referring to substitutions: exponential output if unbounded.
  const bomb = `_Z1fI${'S_'.repeat(1)}${'IS_S_E'.repeat(40)}Evv`;
  t.type(demangle(bomb, { params: true }), 'string');
  t.ok(performance.now() - started < 20_000, 'bounded time');
});
