//! The `#[lockstep_sim::test]` attribute: an `async fn` test run by
//! `lockstep_sim::check` over many seeds.
//!
//! Owns: parsing the attribute's arguments and expanding to a plain `#[test]`.
//! Does not own: anything that happens at run time (see `lockstep_sim::check`).
//!
//! MACRO-1: the expansion is an ordinary `#[test] fn` with the same name, so
//! it works under `cargo test` and `cargo nextest` and `--exact` filters.
//! MACRO-2: unknown arguments are compile errors, never silently ignored.

use proc_macro::TokenStream;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ItemFn, Lit, MetaNameValue, Token, parse_macro_input};

/// Runs an `async fn` test in a fresh lockstep world for each of many seeds.
///
/// Arguments (all optional): `seeds = <u64>` (default 16), `jobs = <usize>`,
/// `profile = "<name>"` (carried in the world config).
/// The function takes no arguments and returns `()` or `Result<(), E: Display>`.
///
/// ```ignore
/// #[lockstep_sim::test(seeds = 64)]
/// async fn pings_arrive() {
///     lockstep::time::sleep(std::time::Duration::from_secs(1)).await;
/// }
/// ```
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    let function = parse_macro_input!(item as ItemFn);
    match expand(args.into(), function) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

fn expand(
    args: proc_macro2::TokenStream,
    function: ItemFn,
) -> syn::Result<proc_macro2::TokenStream> {
    let arguments = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(args)?;
    let mut settings = Vec::new();
    for argument in arguments {
        let Some(name) = argument.path.get_ident().map(ToString::to_string) else {
            return Err(syn::Error::new_spanned(
                &argument.path,
                "expected `seeds`, `jobs` or `profile`",
            ));
        };
        let literal = match &argument.value {
            Expr::Lit(literal) => &literal.lit,
            other => return Err(syn::Error::new_spanned(other, "expected a literal")),
        };
        let setting = match (name.as_str(), literal) {
            ("seeds", Lit::Int(count)) => quote! { .seeds(#count) },
            ("jobs", Lit::Int(count)) => quote! { .jobs(#count) },
            ("profile", Lit::Str(profile)) => quote! { .profile(#profile) },
            ("seeds" | "jobs", other) => {
                return Err(syn::Error::new_spanned(other, "expected an integer"));
            }
            ("profile", other) => return Err(syn::Error::new_spanned(other, "expected a string")),
            _ => {
                return Err(syn::Error::new_spanned(
                    &argument.path,
                    "unknown argument: expected `seeds`, `jobs` or `profile`",
                ));
            }
        };
        settings.push(setting);
    }
    let signature = &function.sig;
    if signature.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            signature.fn_token,
            "#[lockstep_sim::test] needs an `async fn`",
        ));
    }
    if !signature.inputs.is_empty() {
        return Err(syn::Error::new_spanned(
            &signature.inputs,
            "#[lockstep_sim::test] functions take no arguments",
        ));
    }
    if !signature.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &signature.generics,
            "#[lockstep_sim::test] functions cannot be generic",
        ));
    }
    let name = &signature.ident;
    let attributes = &function.attrs;
    let visibility = &function.vis;
    let output = &signature.output;
    let body = &function.block;
    Ok(quote! {
        #(#attributes)*
        #[::core::prelude::v1::test]
        #visibility fn #name() {
            async fn #name() #output #body
            let config = ::lockstep_sim::CheckConfig::new(
                ::lockstep_sim::__private::test_name(::core::module_path!(), ::core::stringify!(#name)),
            )
            .package(::core::env!("CARGO_PKG_NAME"))
            #(#settings)*;
            let _ = ::lockstep_sim::check(config, |_world| #name());
        }
    })
}
