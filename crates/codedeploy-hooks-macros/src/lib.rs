//! The `ensure!` macro of `codedeploy-hooks`. Use it through that crate:
//! `codedeploy_hooks::ensure!`.
//!
//! A procedural macro, because a declarative one cannot split `a == b` into its two sides,
//! and the failure message is worth most when it shows the values.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::{BinOp, Expr, Token};

struct Input {
    condition: Expr,
    context: Option<TokenStream2>,
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let condition: Expr = input.parse()?;
        let context = if input.is_empty() {
            None
        } else {
            input.parse::<Token![,]>()?;
            let rest: TokenStream2 = input.parse()?;
            (!rest.is_empty()).then_some(rest)
        };
        Ok(Input { condition, context })
    }
}

/// Fail the check with a message showing the condition (and both sides of a comparison)
/// unless the condition holds. See `codedeploy_hooks::ensure!`.
#[proc_macro]
pub fn ensure(input: TokenStream) -> TokenStream {
    let Input { condition, context } = syn::parse_macro_input!(input as Input);
    let whole = tidy(&condition.to_token_stream().to_string());
    let context = match context {
        Some(args) => quote!(::std::option::Option::Some(::std::format!(#args))),
        None => quote!(::std::option::Option::None),
    };
    expand(&condition, &whole, &context).into()
}

/// `a && b` checks `a`, then `b`, so the message names the part that failed.
fn expand(condition: &Expr, whole: &str, context: &TokenStream2) -> TokenStream2 {
    let condition = strip_parens(condition);
    if let Expr::Binary(binary) = condition {
        let (left, right) = (&binary.left, &binary.right);
        match binary.op {
            BinOp::And(_) => {
                let first = expand(left, whole, context);
                let second = expand(right, whole, context);
                return quote!({ #first #second });
            }
            BinOp::Eq(_)
            | BinOp::Ne(_)
            | BinOp::Lt(_)
            | BinOp::Le(_)
            | BinOp::Gt(_)
            | BinOp::Ge(_) => {
                let op = &binary.op;
                let part = tidy(&condition.to_token_stream().to_string());
                return quote!({
                    match (&(#left), &(#right)) {
                        (left, right) => {
                            if !(left #op right) {
                                #[allow(unused_imports)]
                                use ::codedeploy_hooks::__private::{ShowDebug as _, ShowOpaque as _};
                                return ::std::result::Result::Err(::codedeploy_hooks::__private::failed(
                                    #whole,
                                    #part,
                                    ::std::option::Option::Some((
                                        (&&::codedeploy_hooks::__private::Show(left)).show(),
                                        (&&::codedeploy_hooks::__private::Show(right)).show(),
                                    )),
                                    #context,
                                ));
                            }
                        }
                    }
                });
            }
            _ => {}
        }
    }
    let part = tidy(&condition.to_token_stream().to_string());
    quote!({
        if !(#condition) {
            return ::std::result::Result::Err(::codedeploy_hooks::__private::failed(
                #whole,
                #part,
                ::std::option::Option::None,
                #context,
            ));
        }
    })
}

fn strip_parens(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(inner) => strip_parens(&inner.expr),
        other => other,
    }
}

/// Token streams print as `out . json :: < Value > () ?`; give back what the user wrote.
fn tidy(text: &str) -> String {
    // `&&` is an operator and keeps its spaces; only a unary `&` is glued to its operand.
    let mut out = text.replace(" && ", "\u{1}");
    for (from, to) in [
        (" ..= ", "..="),
        ("..= ", "..="),
        (" .. ", ".."),
        (".. ", ".."),
        (" . ", "."),
        (" :: ", "::"),
        (":: <", "::<"),
        ("::< ", "::<"),
        (" ()", "()"),
        (" (", "("),
        ("( ", "("),
        (" )", ")"),
        (" [", "["),
        ("[ ", "["),
        (" ]", "]"),
        (" ?", "?"),
        ("& ", "&"),
        (" ,", ","),
        ("! ", "!"),
    ] {
        out = out.replace(from, to);
    }
    // Generic arguments: `::<Value >` -> `::<Value>`.
    while let Some(start) = out.find("::<") {
        let Some(len) = out[start..].find(" >") else {
            break;
        };
        out.replace_range(start + len..start + len + 2, ">");
        out.replace_range(start..start + 3, "::\u{0}");
    }
    out.replace('\u{0}', "<").replace('\u{1}', " && ")
}

#[cfg(test)]
mod tests {
    use super::tidy;

    #[test]
    fn tidy_restores_method_calls_and_turbofish() {
        assert_eq!(
            tidy("out . json :: < Value > () ? [\"message\"] == \"hello smoke\""),
            "out.json::<Value>()?[\"message\"] == \"hello smoke\""
        );
        assert_eq!(tidy("stats . p95 () < ms (300)"), "stats.p95() < ms(300)");
    }

    #[test]
    fn tidy_keeps_and_operators_and_ranges_readable() {
        assert_eq!(tidy("a == 0 && b < 3"), "a == 0 && b < 3");
        assert_eq!(tidy("& s [.. 1] == \"x\""), "&s[..1] == \"x\"");
        assert_eq!(
            tidy("v [1 .. 3] . len () == 2 && & v [0 ..= 1] != & []"),
            "v[1..3].len() == 2 && &v[0..=1] != &[]"
        );
    }
}
