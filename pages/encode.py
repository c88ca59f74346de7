import streamlit as st

st.title("encode")
st.info("This page is being built.")
