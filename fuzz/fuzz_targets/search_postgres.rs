//! The PostgreSQL translation of a search query: for any text, the `tsquery` expression is
//! made of the store's fixed SQL and one bind parameter per term, numbered in order, so that
//! nothing a user typed is ever SQL or tsquery syntax. (The store translates only queries
//! with text, `TextQuery::has_text`; a query of exclusions alone is not searched by text.)
#![no_main]

use bookstore_core::{Term, TextQuery};
use bookstore_store::fuzzing::postgres_tsquery;
use libfuzzer_sys::fuzz_target;

/// Reads `sql` against the grammar of the translation, left to right.
struct Reader<'a> {
    rest: &'a str,
    next_bind: usize,
}

impl Reader<'_> {
    fn eat(&mut self, token: &str) {
        match self.rest.strip_prefix(token) {
            Some(rest) => self.rest = rest,
            None => panic!("expected {token:?} at {:?}", self.rest),
        }
    }

    fn bind(&mut self) {
        self.next_bind += 1;
        self.eat(&format!("${}", self.next_bind));
    }

    fn term(&mut self, term: &Term) {
        match term {
            Term::Word { prefix: false, .. } => {
                self.eat("plainto_tsquery('english'::regconfig, bookstore_unaccent(");
                self.bind();
                self.eat("))");
            }
            Term::Word { prefix: true, .. } => {
                self.eat("bookstore_prefix_query(");
                self.bind();
                self.eat(")");
            }
            Term::Phrase(_) => {
                self.eat("phraseto_tsquery('english'::regconfig, bookstore_unaccent(");
                self.bind();
                self.eat("))");
            }
        }
    }
}

fuzz_target!(|raw: &str| {
    let q = TextQuery::parse(raw);
    if !q.has_text() {
        return;
    }
    for query in [Some(q.clone()), q.as_typed(), q.relaxed()]
        .into_iter()
        .flatten()
    {
        let (sql, binds) = postgres_tsquery(&query);
        let mut r = Reader {
            rest: &sql,
            next_bind: 0,
        };
        r.eat("(");
        for (g, group) in query.groups.iter().enumerate() {
            if g > 0 {
                r.eat(" && ");
            }
            r.eat("(");
            for (t, term) in group.iter().enumerate() {
                if t > 0 {
                    r.eat(" || ");
                }
                r.term(term);
            }
            r.eat(")");
        }
        for term in &query.excluded {
            r.eat(" && (!! ");
            r.term(term);
            r.eat(")");
        }
        r.eat(")");
        assert!(r.rest.is_empty(), "trailing {:?}", r.rest);
        assert_eq!(binds, r.next_bind, "{sql}");
    }
});
