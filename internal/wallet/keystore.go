package wallet

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"
)

// DefaultScryptN is the scrypt cost used for new key files (about 100 ms
// and 32 MiB per unlock with r=8, p=1).
const DefaultScryptN = 1 << 15

const (
	keyFileVersion = 1
	keyFileExt     = ".json"
	maxKeyFileSize = 64 << 10
	maxNameLen     = 64
)

// Keystore keeps one encrypted JSON file per key in a directory.
type Keystore struct {
	dir string
	// ScryptN is the scrypt cost for keys written from now on; files carry
	// their own parameters, so changing it never breaks old files. Tests
	// lower it to keep them fast.
	ScryptN int
}

// Entry describes a stored key without decrypting it.
type Entry struct {
	Name    string
	Address Address
}

// keyFile is the on-disk format. The name and address are bound to the
// ciphertext as AEAD associated data, so editing them makes Load fail.
type keyFile struct {
	Version    int       `json:"version"`
	Name       string    `json:"name"`
	Address    Address   `json:"address"`
	KDF        kdfParams `json:"kdf"`
	Cipher     string    `json:"cipher"`
	Nonce      string    `json:"nonce"`
	Ciphertext string    `json:"ciphertext"`
}

type kdfParams struct {
	Name string `json:"name"`
	N    int    `json:"n"`
	R    int    `json:"r"`
	P    int    `json:"p"`
	Salt string `json:"salt"`
}

// OpenKeystore returns the keystore in dir, creating dir (0700) if needed.
func OpenKeystore(dir string) (*Keystore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("opening keystore %s: %w", dir, err)
	}
	return &Keystore{dir: dir, ScryptN: DefaultScryptN}, nil
}

// ValidName reports whether name can name a key: 1–64 characters of
// [A-Za-z0-9._-], not starting with a dot.
func ValidName(name string) bool {
	if name == "" || len(name) > maxNameLen || name[0] == '.' {
		return false
	}
	for _, c := range name {
		ok := c == '.' || c == '_' || c == '-' || (c >= '0' && c <= '9') ||
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}

func (ks *Keystore) path(name string) string { return filepath.Join(ks.dir, name+keyFileExt) }

// Save encrypts k under passphrase and stores it as name. It never
// overwrites: an existing name yields ErrAlreadyExists.
func (ks *Keystore) Save(name string, k *Key, passphrase []byte) error {
	if !ValidName(name) {
		return fmt.Errorf("saving key %q: bad name: %w", name, ErrInvalid)
	}
	n := ks.ScryptN
	if n == 0 {
		n = DefaultScryptN
	}
	kf := keyFile{
		Version: keyFileVersion, Name: name, Address: k.Address(),
		KDF:    kdfParams{Name: "scrypt", N: n, R: 8, P: 1},
		Cipher: "xchacha20-poly1305",
	}
	salt := make([]byte, 32)
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(salt); err != nil {
		return fmt.Errorf("saving key %q: %w", name, err)
	}
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("saving key %q: %w", name, err)
	}
	kf.KDF.Salt = hex.EncodeToString(salt)
	kf.Nonce = hex.EncodeToString(nonce)
	aead, err := kf.aead(passphrase, salt)
	if err != nil {
		return fmt.Errorf("saving key %q: %w", name, err)
	}
	kf.Ciphertext = hex.EncodeToString(aead.Seal(nil, nonce, k.Seed(), kf.associatedData()))
	data, err := json.MarshalIndent(&kf, "", "  ")
	if err != nil {
		return fmt.Errorf("saving key %q: %w", name, err)
	}
	return ks.writeNew(name, append(data, '\n'))
}

// writeNew writes data to a temporary file (0600, synced) and links it
// into place, which fails atomically if the name is taken.
func (ks *Keystore) writeNew(name string, data []byte) error {
	tmp, err := os.CreateTemp(ks.dir, ".tmp-"+name+"-*")
	if err != nil {
		return fmt.Errorf("saving key %q: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("saving key %q: %w", name, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("saving key %q: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("saving key %q: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("saving key %q: %w", name, err)
	}
	if err := os.Link(tmp.Name(), ks.path(name)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("saving key %q: %w", name, ErrAlreadyExists)
		}
		return fmt.Errorf("saving key %q: %w", name, err)
	}
	return nil
}

// Load decrypts the key stored as name. A wrong passphrase (or a tampered
// file) yields ErrPermission.
func (ks *Keystore) Load(name string, passphrase []byte) (*Key, error) {
	kf, err := ks.read(name)
	if err != nil {
		return nil, err
	}
	salt, err1 := hex.DecodeString(kf.KDF.Salt)
	nonce, err2 := hex.DecodeString(kf.Nonce)
	ct, err3 := hex.DecodeString(kf.Ciphertext)
	if err := errors.Join(err1, err2, err3); err != nil || len(nonce) != chacha20poly1305.NonceSizeX {
		return nil, fmt.Errorf("loading key %q: malformed file: %w", name, ErrInvalid)
	}
	aead, err := kf.aead(passphrase, salt)
	if err != nil {
		return nil, fmt.Errorf("loading key %q: %w", name, err)
	}
	seed, err := aead.Open(nil, nonce, ct, kf.associatedData())
	if err != nil {
		return nil, fmt.Errorf("loading key %q: wrong passphrase or corrupt file: %w", name, ErrPermission)
	}
	k, err := FromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("loading key %q: %w", name, err)
	}
	if k.Address() != kf.Address {
		return nil, fmt.Errorf("loading key %q: address mismatch: %w", name, ErrInvalid)
	}
	return k, nil
}

func (ks *Keystore) read(name string) (*keyFile, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("loading key %q: bad name: %w", name, ErrInvalid)
	}
	f, err := os.Open(ks.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("loading key %q: %w", name, ErrNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("loading key %q: %w", name, err)
	}
	defer f.Close()
	var kf keyFile
	dec := json.NewDecoder(io.LimitReader(f, maxKeyFileSize))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return nil, fmt.Errorf("loading key %q: %v: %w", name, err, ErrInvalid)
	}
	if kf.Version != keyFileVersion || kf.Name != name || kf.Cipher != "xchacha20-poly1305" || kf.KDF.Name != "scrypt" {
		return nil, fmt.Errorf("loading key %q: unsupported or mismatched file: %w", name, ErrInvalid)
	}
	return &kf, nil
}

// List returns the stored keys sorted by name.
func (ks *Keystore) List() ([]Entry, error) {
	des, err := os.ReadDir(ks.dir)
	if err != nil {
		return nil, fmt.Errorf("listing keystore: %w", err)
	}
	var out []Entry
	for _, de := range des {
		name, ok := strings.CutSuffix(de.Name(), keyFileExt)
		if !ok || !de.Type().IsRegular() || !ValidName(name) {
			continue
		}
		kf, err := ks.read(name)
		if err != nil {
			return nil, err
		}
		out = append(out, Entry{Name: name, Address: kf.Address})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (kf *keyFile) associatedData() []byte {
	return fmt.Appendf(nil, "vimana-keystore/v%d\x00%s\x00%s", kf.Version, kf.Name, kf.Address)
}

func (kf *keyFile) aead(passphrase, salt []byte) (cipher.AEAD, error) {
	p := kf.KDF
	// Bound the parameters a file may ask for, so a hostile file cannot
	// make Load allocate gigabytes.
	if p.N < 2 || p.N > 1<<20 || p.N&(p.N-1) != 0 || p.R != 8 || p.P != 1 || len(salt) < 16 {
		return nil, fmt.Errorf("scrypt parameters out of range: %w", ErrInvalid)
	}
	dk, err := scrypt.Key(passphrase, salt, p.N, p.R, p.P, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("deriving key: %v: %w", err, ErrInvalid)
	}
	return chacha20poly1305.NewX(dk)
}
