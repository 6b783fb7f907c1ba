use super::*;

fn rows(text: &[u8]) -> Vec<SourceRow> {
    let mut source = CsvSource::new(text).expect("header");
    let mut out = Vec::new();
    while let Some(row) = source.next_row() {
        out.push(row.expect("row"));
    }
    out
}

fn header_error(text: &[u8]) -> String {
    match CsvSource::new(text) {
        Err(ImportError::Header(message)) => message,
        Err(other) => panic!("not a header error: {other}"),
        Ok(_) => panic!("header accepted"),
    }
}

fn fields(row: &SourceRow) -> Vec<String> {
    match &row.book {
        Ok(_) => Vec::new(),
        Err(errors) => errors.errors().iter().map(|e| e.field.clone()).collect(),
    }
}

#[test]
fn columns_in_any_order_map_to_the_book() {
    let rows = rows(
        b"Title,isbn,authors,genres,price,currency,quantity,published_year\n\
          The Hobbit,978-0-261-10334-4,J. R. R. Tolkien; Alan Lee ,Fantasy;;Classics,12.99,EUR,3,1937\n",
    );
    assert_eq!(rows.len(), 1);
    let book = rows[0].book.as_ref().expect("valid");
    assert_eq!(rows[0].line, 2);
    assert_eq!(rows[0].isbn.as_deref(), Some("978-0-261-10334-4"));
    assert_eq!(book.title.as_deref(), Some("The Hobbit"));
    let names: Vec<_> = book
        .authors
        .iter()
        .map(|a| a.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["J. R. R. Tolkien", "Alan Lee"]);
    assert_eq!(book.genres, ["Fantasy", "Classics"]);
    assert_eq!(
        book.price,
        Some(RawPrice::Decimal {
            amount: "12.99".into(),
            currency: "EUR".into()
        })
    );
    assert_eq!(book.quantity, Some(3));
    assert_eq!(book.published_year, Some(1937));
}

#[test]
fn unknown_repeated_and_missing_columns_refuse_the_file() {
    assert!(header_error(b"isbn,title,colour\n").contains("unknown column 'colour'"));
    assert!(header_error(b"isbn,title,isbn\n").contains("'isbn' is named twice"));
    assert!(header_error(b"isbn,subtitle\n").contains("required column 'title' is missing"));
    assert!(header_error(b"").contains("header row"));
    assert!(header_error(b"isbn,t\xffitle\n").contains("not valid UTF-8"));
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_first_column() {
    let rows = rows(b"\xef\xbb\xbfisbn,title\n9780261103344,X\n");
    assert!(rows[0].book.is_ok());
}

#[test]
fn quoted_newlines_count_in_the_line_numbers() {
    let rows = rows(
        b"isbn,title,description\n\
          9780261103344,A,\"one\ntwo\nthree\"\n\
          9780261102385,B,plain\n",
    );
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 5]);
    assert_eq!(
        rows[0].book.as_ref().unwrap().description.as_deref(),
        Some("one\ntwo\nthree")
    );
}

#[test]
fn invalid_utf8_names_the_line_and_column() {
    let rows = rows(b"isbn,title\n9780261103344,ok\n9780261102385,bad \xff\n");
    assert!(rows[0].book.is_ok());
    let Err(errors) = &rows[1].book else {
        panic!("accepted")
    };
    assert_eq!(rows[1].line, 3);
    assert_eq!(errors.errors()[0].field, "title");
    assert!(errors.errors()[0].message.contains("line 3"));
}

#[test]
fn cells_that_are_not_their_column_are_field_errors() {
    let rows = rows(
        b"isbn,title,quantity,page_count,price,reorder_quantity\n\
          9780261103344,A,three,12.5,9.99,\n\
          9780261102385,B,,,,four\n\
          9780261102385,C,1\n",
    );
    assert_eq!(fields(&rows[0]), ["quantity", "page_count", "currency"]);
    assert_eq!(fields(&rows[1]), ["reorder_quantity"]);
    assert_eq!(fields(&rows[2]), [""]);
}

#[test]
fn a_record_beyond_the_bound_ends_the_import() {
    let mut text = b"isbn,title\n9780261103344,\"".to_vec();
    text.extend(std::iter::repeat_n(b'x', (MAX_RECORD_BYTES as usize) * 2));
    let mut source = CsvSource::new(&text[..]).expect("header");
    match source.next_row() {
        Some(Err(ImportError::Malformed(message))) => {
            assert!(message.contains("longer than"), "{message}")
        }
        other => panic!("not refused: {other:?}"),
    }
}
