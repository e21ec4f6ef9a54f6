//! What a calculation's formula says, parsed: arithmetic over aggregates of columns, each
//! aggregate optionally filtered.

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Num(f64),
    Neg(Box<Expr>),
    Bin(Box<Expr>, Op, Box<Expr>),
    Agg(Aggregate),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Sum,
    Mean,
    Count,
    CountDistinct,
    Min,
    Max,
    Median,
    Std,
}

impl Func {
    pub fn from_word(w: &str) -> Option<Func> {
        Some(match w.to_ascii_uppercase().as_str() {
            "SUM" | "TOTAL" => Func::Sum,
            "AVG" | "MEAN" | "AVERAGE" => Func::Mean,
            "COUNT" => Func::Count,
            "NUNIQUE" => Func::CountDistinct,
            "MIN" => Func::Min,
            "MAX" => Func::Max,
            "MEDIAN" => Func::Median,
            "STD" | "STDDEV" | "STDEV" => Func::Std,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Func::Sum => "SUM",
            Func::Mean => "AVG",
            Func::Count => "COUNT",
            Func::CountDistinct => "COUNT(DISTINCT)",
            Func::Min => "MIN",
            Func::Max => "MAX",
            Func::Median => "MEDIAN",
            Func::Std => "STD",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ColRef {
    /// `*`: rows.
    Star,
    Name(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub func: Func,
    pub column: ColRef,
    pub filter: Option<Cond>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Num(f64),
    Str(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Compare(String, Cmp, Lit),
    In(String, Vec<Lit>, bool),
    Between(String, Lit, Lit),
}

impl Expr {
    /// Calls `f` on every aggregate, left to right.
    pub fn each_aggregate(&mut self, f: &mut impl FnMut(&mut Aggregate)) {
        match self {
            Expr::Num(_) => {}
            Expr::Neg(e) => e.each_aggregate(f),
            Expr::Bin(a, _, b) => {
                a.each_aggregate(f);
                b.each_aggregate(f);
            }
            Expr::Agg(a) => f(a),
        }
    }
}

impl Cond {
    /// Every column the condition names.
    pub fn columns(&self, out: &mut Vec<String>) {
        match self {
            Cond::And(cs) | Cond::Or(cs) => cs.iter().for_each(|c| c.columns(out)),
            Cond::Compare(c, ..) | Cond::In(c, ..) | Cond::Between(c, ..) => out.push(c.clone()),
        }
    }

    /// Renames columns through `f` (resolution against the file's header).
    pub fn map_columns(&mut self, f: &mut impl FnMut(&mut String)) {
        match self {
            Cond::And(cs) | Cond::Or(cs) => cs.iter_mut().for_each(|c| c.map_columns(f)),
            Cond::Compare(c, ..) | Cond::In(c, ..) | Cond::Between(c, ..) => f(c),
        }
    }
}
