//! A large generated stream is read with constant memory: the reader pulls input only as
//! far as the product it returns, and keeps nothing of the products before.

use std::cell::Cell;
use std::io::{BufReader, Read};
use std::rc::Rc;

use bookstore_onix::{Format, Limits, OnixReader};

const PRODUCTS: u64 = 200_000;
const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
    <ONIXMessage release=\"3.0\" xmlns=\"http://ns.editeur.org/onix/3.0/reference\">\n\
    <Header><Sender><SenderName>Generator</SenderName></Sender></Header>\n";
const TAIL: &str = "</ONIXMessage>\n";

/// Every product has the same length, so the byte offset where product `k` ends is known.
fn product(k: u64) -> String {
    format!(
        "<Product><RecordReference>r{k:07}</RecordReference>\
         <ProductIdentifier><ProductIDType>15</ProductIDType><IDValue>978{k:010}</IDValue></ProductIdentifier>\
         <DescriptiveDetail><ProductForm>BC</ProductForm><TitleDetail><TitleType>01</TitleType>\
         <TitleElement><TitleElementLevel>01</TitleElementLevel><TitleText>Book {k:07}</TitleText>\
         </TitleElement></TitleDetail></DescriptiveDetail></Product>\n"
    )
}

/// Writes the document on demand and counts the bytes handed out.
struct Generator {
    next: u64,
    pending: Vec<u8>,
    at: usize,
    tail_sent: bool,
    produced: Rc<Cell<u64>>,
}

impl Read for Generator {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.pending.len() {
            self.at = 0;
            self.pending.clear();
            if self.next < PRODUCTS {
                self.next += 1;
                self.pending
                    .extend_from_slice(product(self.next).as_bytes());
            } else if !self.tail_sent {
                self.tail_sent = true;
                self.pending.extend_from_slice(TAIL.as_bytes());
            } else {
                return Ok(0);
            }
        }
        let n = (self.pending.len() - self.at).min(out.len());
        out[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        self.produced.set(self.produced.get() + n as u64);
        Ok(n)
    }
}

#[test]
fn two_hundred_thousand_products_stream_through() {
    let produced = Rc::new(Cell::new(0));
    let generator = Generator {
        next: 0,
        pending: HEAD.as_bytes().to_vec(),
        at: 0,
        tail_sent: false,
        produced: produced.clone(),
    };
    let product_len = product(1).len() as u64;
    let reader = OnixReader::new(BufReader::with_capacity(8192, generator), Limits::default());

    let mut count = 0;
    for item in reader {
        let p = item.expect("product");
        count += 1;
        assert_eq!(p.index, count);
        if count % 10_000 == 1 {
            assert_eq!(p.isbn13, Some(format!("978{count:010}")));
            assert_eq!(p.title, Some(format!("Book {count:07}")));
            assert_eq!(p.format, Some(Format::Paperback));
        }
        // The reader has pulled no more than its two buffers past the end of this product:
        // nothing of the file is held beyond that.
        let end_of_product = HEAD.len() as u64 + count * product_len;
        assert!(
            produced.get() <= end_of_product + 8192 + 64 * 1024,
            "product {count}: {} bytes read, product ends at {end_of_product}",
            produced.get()
        );
    }
    assert_eq!(count, PRODUCTS);
    assert!(produced.get() > 50_000_000, "{}", produced.get());
}
