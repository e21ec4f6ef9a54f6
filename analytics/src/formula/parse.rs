//! The formula grammar (hand-written: a few dozen lines of recursive descent, where a parser
//! crate would still need every rule spelled out):
//!
//! ```text
//! formula   := expr [WHERE cond]
//! expr      := term (('+' | '-') term)*
//! term      := factor (('*' | '/') factor)*
//! factor    := number | '-' factor | '(' expr ')' | FUNC '(' [DISTINCT] column [WHERE cond] ')'
//! column    := '*' | quoted | word+ ['column']
//! cond      := and (OR and)*            and := pred (AND pred)*
//! pred      := '(' cond ')' | column cmp value | column [NOT] IN '(' value, … ')'
//!            | column BETWEEN value AND value
//! ```
//! FUNC: SUM AVG MEAN COUNT MIN MAX MEDIAN STD (any case); `COUNT(DISTINCT c)`.

use super::ast::*;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    /// An ISO date written bare (`2024-01-31`).
    Date(String),
    Word(String),
    Quoted(String),
    Sym(&'static str),
}

const SYMBOLS: [&str; 14] = [
    "<=", ">=", "!=", "<>", "==", "+", "-", "*", "/", "(", ")", ",", "<", ">",
];

fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if let Some(close) = match c {
            '\'' => Some('\''),
            '"' => Some('"'),
            '`' => Some('`'),
            '[' => Some(']'),
            '‘' => Some('’'),
            '“' => Some('”'),
            _ => None,
        } {
            let start = i + 1;
            let end = (start..chars.len())
                .find(|j| chars[*j] == close)
                .ok_or_else(|| format!("unclosed quote {c}"))?;
            out.push(Tok::Quoted(chars[start..end].iter().collect()));
            i = end + 1;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            // A bare ISO date: dddd-dd-dd.
            let date: String = chars[i..chars.len().min(i + 10)].iter().collect();
            if date.len() == 10
                && date.char_indices().all(|(k, ch)| match k {
                    4 | 7 => ch == '-',
                    _ => ch.is_ascii_digit(),
                })
            {
                out.push(Tok::Date(date));
                i += 10;
                continue;
            }
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            // 1e6
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '-' || chars[j] == '+') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let s: String = chars[start..i].iter().collect();
            let n = s.parse().map_err(|_| format!("bad number `{s}`"))?;
            // `100%` in a formula means 100.
            if i < chars.len() && chars[i] == '%' {
                i += 1;
            }
            out.push(Tok::Num(n));
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
            continue;
        }
        if c == '=' {
            // `=` and `==` are the same comparison.
            i += if chars.get(i + 1) == Some(&'=') { 2 } else { 1 };
            out.push(Tok::Sym("=="));
            continue;
        }
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        if let Some(sym) = SYMBOLS.iter().find(|s| two.starts_with(**s)) {
            out.push(Tok::Sym(sym));
            i += sym.chars().count();
            continue;
        }
        if c == '×' || c == '÷' {
            out.push(Tok::Sym(if c == '×' { "*" } else { "/" }));
            i += 1;
            continue;
        }
        return Err(format!("unexpected `{c}`"));
    }
    Ok(out)
}

const KEYWORDS: [&str; 8] = [
    "WHERE", "AND", "OR", "IN", "NOT", "BETWEEN", "DISTINCT", "COLUMN",
];

fn is_keyword(w: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w))
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn sym(&mut self, s: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Sym(x)) if *x == s) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn keyword(&mut self, k: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k)) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn expect(&mut self, s: &str) -> Result<(), String> {
        if self.sym(s) {
            Ok(())
        } else {
            Err(format!("expected `{s}`{}", self.at()))
        }
    }

    fn at(&self) -> String {
        match self.peek() {
            None => " at the end".into(),
            Some(t) => format!(" before {}", show(t)),
        }
    }

    fn expr(&mut self) -> Result<Expr, String> {
        self.level(&[("+", Op::Add), ("-", Op::Sub)], Self::term)
    }

    fn term(&mut self) -> Result<Expr, String> {
        self.level(&[("*", Op::Mul), ("/", Op::Div)], Self::factor)
    }

    /// One precedence level: `operand`s joined left to right by any of `ops`.
    fn level(
        &mut self,
        ops: &[(&str, Op)],
        operand: fn(&mut Self) -> Result<Expr, String>,
    ) -> Result<Expr, String> {
        let mut left = operand(self)?;
        while let Some(op) = ops.iter().find(|(s, _)| self.sym(s)).map(|(_, op)| *op) {
            left = Expr::Bin(Box::new(left), op, Box::new(operand(self)?));
        }
        Ok(left)
    }

    fn factor(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::Num(n)) => Ok(Expr::Num(n)),
            Some(Tok::Sym("-")) => Ok(Expr::Neg(Box::new(self.factor()?))),
            Some(Tok::Sym("(")) => {
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            Some(Tok::Word(w)) => {
                let Some(mut func) = Func::from_word(&w) else {
                    return Err(format!(
                        "`{w}` is not an aggregate (SUM, AVG, MEAN, COUNT, MIN, MAX, MEDIAN, STD)"
                    ));
                };
                self.expect("(")?;
                if self.keyword("DISTINCT") {
                    if func != Func::Count {
                        return Err(format!("DISTINCT only with COUNT, not {}", func.name()));
                    }
                    func = Func::CountDistinct;
                }
                let column = self.column()?;
                if column == ColRef::Star && func != Func::Count {
                    return Err(format!("{}(*) has no column to aggregate", func.name()));
                }
                let filter = if self.keyword("WHERE") {
                    Some(self.cond()?)
                } else {
                    None
                };
                self.expect(")")?;
                Ok(Expr::Agg(Aggregate {
                    func,
                    column,
                    filter,
                }))
            }
            Some(t) => Err(format!("unexpected {}", show(&t))),
            None => Err("the formula ends too early".into()),
        }
    }

    fn column(&mut self) -> Result<ColRef, String> {
        if self.sym("*") {
            return Ok(ColRef::Star);
        }
        let name = match self.next() {
            Some(Tok::Quoted(q)) => q,
            Some(Tok::Word(w)) if !is_keyword(&w) => {
                let mut words = vec![w];
                while let Some(Tok::Word(w)) = self.peek() {
                    if is_keyword(w) {
                        break;
                    }
                    words.push(w.clone());
                    self.pos += 1;
                }
                words.join(" ")
            }
            Some(t) => return Err(format!("expected a column, found {}", show(&t))),
            None => return Err("expected a column at the end".into()),
        };
        self.keyword("COLUMN");
        Ok(ColRef::Name(name))
    }

    fn cond(&mut self) -> Result<Cond, String> {
        let mut any = vec![self.and()?];
        while self.keyword("OR") {
            any.push(self.and()?);
        }
        Ok(if any.len() == 1 {
            any.remove(0)
        } else {
            Cond::Or(any)
        })
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut all = vec![self.pred()?];
        while self.keyword("AND") {
            all.push(self.pred()?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Cond::And(all)
        })
    }

    fn pred(&mut self) -> Result<Cond, String> {
        if self.sym("(") {
            let c = self.cond()?;
            self.expect(")")?;
            return Ok(c);
        }
        let ColRef::Name(column) = self.column()? else {
            return Err("a condition needs a column, not *".into());
        };
        let negated = self.keyword("NOT");
        if self.keyword("IN") {
            self.expect("(")?;
            let mut values = vec![self.value()?];
            while self.sym(",") {
                values.push(self.value()?);
            }
            self.expect(")")?;
            return Ok(Cond::In(column, values, negated));
        }
        if negated {
            return Err(format!("expected IN after NOT{}", self.at()));
        }
        if self.keyword("BETWEEN") {
            let lo = self.value()?;
            if !self.keyword("AND") {
                return Err(format!("expected AND in BETWEEN{}", self.at()));
            }
            return Ok(Cond::Between(column, lo, self.value()?));
        }
        let cmp = match self.next() {
            Some(Tok::Sym("==")) => Cmp::Eq,
            Some(Tok::Sym("!=")) | Some(Tok::Sym("<>")) => Cmp::Ne,
            Some(Tok::Sym("<")) => Cmp::Lt,
            Some(Tok::Sym("<=")) => Cmp::Le,
            Some(Tok::Sym(">")) => Cmp::Gt,
            Some(Tok::Sym(">=")) => Cmp::Ge,
            Some(t) => {
                return Err(format!(
                    "expected a comparison after `{column}`, found {}",
                    show(&t)
                ))
            }
            None => return Err(format!("expected a comparison after `{column}`")),
        };
        Ok(Cond::Compare(column, cmp, self.value()?))
    }

    fn value(&mut self) -> Result<Lit, String> {
        match self.next() {
            Some(Tok::Num(n)) => Ok(Lit::Num(n)),
            Some(Tok::Sym("-")) => match self.next() {
                Some(Tok::Num(n)) => Ok(Lit::Num(-n)),
                _ => Err("expected a number after `-`".into()),
            },
            Some(Tok::Quoted(s)) | Some(Tok::Date(s)) => Ok(Lit::Str(s)),
            Some(Tok::Word(w)) if !is_keyword(&w) => Ok(Lit::Str(w)),
            Some(t) => Err(format!("expected a value, found {}", show(&t))),
            None => Err("expected a value at the end".into()),
        }
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Num(n) => format!("`{n}`"),
        Tok::Date(s) | Tok::Word(s) => format!("`{s}`"),
        Tok::Quoted(s) => format!("'{s}'"),
        Tok::Sym(s) => format!("`{s}`"),
    }
}

/// Parses a formula; a `WHERE` after the arithmetic filters every aggregate without its own.
pub fn formula(text: &str) -> Result<Expr, String> {
    let mut p = Parser {
        toks: lex(text)?,
        pos: 0,
    };
    if p.toks.is_empty() {
        return Err("empty formula".into());
    }
    let mut expr = p.expr()?;
    if p.keyword("WHERE") {
        let cond = p.cond()?;
        expr.each_aggregate(&mut |a| {
            if a.filter.is_none() {
                a.filter = Some(cond.clone());
            }
        });
    }
    if p.pos < p.toks.len() {
        return Err(format!("unexpected{}", p.at()));
    }
    let mut has_aggregate = false;
    expr.each_aggregate(&mut |_| has_aggregate = true);
    if !has_aggregate {
        return Err("no aggregate of a column (SUM, AVG, COUNT, …)".into());
    }
    Ok(expr)
}

/// Parses a condition alone (chart filters).
pub fn condition(text: &str) -> Result<Cond, String> {
    let mut p = Parser {
        toks: lex(text)?,
        pos: 0,
    };
    let c = p.cond()?;
    if p.pos < p.toks.len() {
        return Err(format!("unexpected{}", p.at()));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agg(func: Func, c: &str, filter: Option<Cond>) -> Expr {
        Expr::Agg(Aggregate {
            func,
            column: ColRef::Name(c.into()),
            filter,
        })
    }

    #[test]
    fn aggregates_and_arithmetic() {
        assert_eq!(formula("SUM(금액)").unwrap(), agg(Func::Sum, "금액", None));
        assert_eq!(
            formula("sum(\"금액\")").unwrap(),
            agg(Func::Sum, "금액", None)
        );
        assert_eq!(
            formula("AVG(금액 column)").unwrap(),
            agg(Func::Mean, "금액", None)
        );
        assert_eq!(
            formula("MEAN(Total Sales)").unwrap(),
            agg(Func::Mean, "Total Sales", None)
        );
        assert_eq!(
            formula("COUNT(DISTINCT 제품명)").unwrap(),
            agg(Func::CountDistinct, "제품명", None)
        );
        let share = formula("SUM(금액 WHERE 카테고리 = '과일') / SUM(금액) * 100").unwrap();
        let Expr::Bin(left, Op::Mul, hundred) = share else {
            panic!("{share:?}")
        };
        assert_eq!(*hundred, Expr::Num(100.0));
        let Expr::Bin(_, Op::Div, _) = *left else {
            panic!()
        };
        assert!(formula("COUNT(*)").is_ok());
        assert!(formula("(MAX(수량) - MIN(수량)) / 2").is_ok());
        // * and / bind tighter than + and -; each level is left-associative
        let bin = |l: Expr, op, r: Expr| Expr::Bin(Box::new(l), op, Box::new(r));
        let sum = || agg(Func::Sum, "금액", None);
        assert_eq!(
            formula("SUM(금액) - 1 - 2 * 3 / 4").unwrap(),
            bin(
                bin(sum(), Op::Sub, Expr::Num(1.0)),
                Op::Sub,
                bin(
                    bin(Expr::Num(2.0), Op::Mul, Expr::Num(3.0)),
                    Op::Div,
                    Expr::Num(4.0)
                )
            )
        );
    }

    #[test]
    fn where_clauses() {
        let f = formula(
            "SUM(금액) WHERE 날짜 BETWEEN 2024-01-01 AND '2024-01-31' AND (카테고리 IN ('과일', '채소') OR 수량 >= 10)",
        )
        .unwrap();
        let Expr::Agg(a) = f else { panic!() };
        let Some(Cond::And(parts)) = a.filter else {
            panic!()
        };
        assert_eq!(
            parts[0],
            Cond::Between(
                "날짜".into(),
                Lit::Str("2024-01-01".into()),
                Lit::Str("2024-01-31".into())
            )
        );
        assert!(matches!(&parts[1], Cond::Or(o) if o.len() == 2));
        let f = formula("COUNT(*) WHERE 카테고리 NOT IN (과일) AND 단가 != -5").unwrap();
        let Expr::Agg(a) = f else { panic!() };
        assert_eq!(
            a.filter,
            Some(Cond::And(vec![
                Cond::In("카테고리".into(), vec![Lit::Str("과일".into())], true),
                Cond::Compare("단가".into(), Cmp::Ne, Lit::Num(-5.0)),
            ]))
        );
    }

    #[test]
    fn what_is_not_a_formula_says_why() {
        for (text, why) in [
            ("", "empty"),
            ("총 매출액의 합계", "not an aggregate"),
            ("SUM(금액", "expected `)`"),
            ("100 * 2", "no aggregate"),
            ("df['금액'].sum()", "unexpected `.`"),
            ("total(금액) + x", "not an aggregate"),
            ("SUM(금액) WHERE 카테고리 ~ 'x'", "unexpected `~`"),
            ("AVG(*)", "no column"),
        ] {
            let e = formula(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
